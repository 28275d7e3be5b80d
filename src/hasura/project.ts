/**
 * A Hasura CLI v3 project on disk (or in memory): `config.yaml` with `version: 3`, `metadata/` split into
 * files tied together by `"!include <file>"` strings, `migrations/<database>/<version>_<name>/`.
 *
 * `readProject` resolves the includes into Hasura's JSON form and remembers where every object lives;
 * `applyOpsToProject` performs merge operations as edits of those files, keeping the include structure (one
 * file per table listed in tables.yaml, actions split between actions.yaml and actions.graphql).
 */
import { posix } from 'node:path';
import { FileSet } from './files.js';
import {
  appendToSequence,
  includeItem,
  includeTarget,
  MetadataFileError,
  parseYaml,
  removeEmptyListKey,
  removeFromSequence,
  renderYaml,
  valueAt,
} from './yaml-io.js';
import { appendSdl, parseSdlDocument, printActionSdl, printCustomTypeSdl, removeFromSdl, sdlToJson } from './sdl.js';
import { DuplicateObjectError, findDuplicates, type Op } from './merge.js';
import { commentText } from './fragment.js';
import type {
  ActionJson,
  AnyCustomType,
  CronTriggerJson,
  CustomTypes,
  FunctionEntry,
  HasuraMetadata,
  SourceJson,
  TableEntry,
} from './types.js';
import { CUSTOM_TYPE_KINDS } from './types.js';

const { join, dirname } = posix;

export class ProjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectError';
  }
}

interface TablesContainer {
  /** File holding the list of tables (or of include lines). */
  file: string;
  /** YAML path of the list inside `file`. */
  path: (string | number)[];
  /** New tables get their own file in `dir`, listed by an include line (the CLI layout). */
  includeStyle: boolean;
  dir: string;
}

interface TableLocation {
  container: TablesContainer;
  /** The table's own file, when it is included. */
  file?: string;
}

export interface Project {
  files: FileSet;
  /** Relative to the project dir. */
  metadataDir: string;
  migrationsDir: string;
  metadata: HasuraMetadata;
  containers: Map<string, TablesContainer>;
  tables: Map<string, TableLocation>;
  /** Per database: where its tracked functions are listed (absent: no `functions` key yet). */
  functionContainers: Map<string, TablesContainer>;
  functions: Map<string, TableLocation>;
  /** Index of each database in databases.yaml, for adding a `functions` key to it. */
  sourceIndex: Map<string, number>;
  /** Files the last edits created (the installer records them to delete them again on remove). */
  created: Set<string>;
}

/* ------------------------------------------------------------------ the empty project */

export const EMPTY_ACTIONS_YAML = 'actions: []\ncustom_types:\n  enums: []\n  input_objects: []\n  objects: []\n  scalars: []\n';

export const DEFAULT_CONFIG_YAML =
  'version: 3\nendpoint: http://localhost:8080\nmetadata_directory: metadata\nactions:\n  kind: synchronous\n  handler_webhook_baseurl: http://localhost:3000\n';

/** What `hasura init` writes: config.yaml and the metadata files of an empty project. */
export function emptyProjectFiles(): Map<string, string> {
  return new Map([
    ['config.yaml', DEFAULT_CONFIG_YAML],
    ['metadata/actions.graphql', ''],
    ['metadata/actions.yaml', EMPTY_ACTIONS_YAML],
    ['metadata/allow_list.yaml', '[]\n'],
    ['metadata/api_limits.yaml', '{}\n'],
    ['metadata/backend_configs.yaml', '{}\n'],
    ['metadata/cron_triggers.yaml', '[]\n'],
    ['metadata/databases/databases.yaml', '[]\n'],
    ['metadata/graphql_schema_introspection.yaml', 'disabled_for_roles: []\n'],
    ['metadata/inherited_roles.yaml', '[]\n'],
    ['metadata/metrics_config.yaml', '{}\n'],
    ['metadata/network.yaml', '{}\n'],
    ['metadata/opentelemetry.yaml', '{}\n'],
    ['metadata/query_collections.yaml', '[]\n'],
    ['metadata/remote_schemas.yaml', '[]\n'],
    ['metadata/rest_endpoints.yaml', '[]\n'],
    ['metadata/version.yaml', 'version: 3\n'],
  ]);
}

/** Files of the metadata directory besides databases/actions/crons, with their JSON keys. */
const OTHER_FILES: Record<string, string> = {
  'remote_schemas.yaml': 'remote_schemas',
  'query_collections.yaml': 'query_collections',
  'allow_list.yaml': 'allowlist',
  'inherited_roles.yaml': 'inherited_roles',
  'network.yaml': 'network',
  'rest_endpoints.yaml': 'rest_endpoints',
  'api_limits.yaml': 'api_limits',
  'graphql_schema_introspection.yaml': 'graphql_schema_introspection',
  'opentelemetry.yaml': 'opentelemetry',
  'backend_configs.yaml': 'backend_configs',
  'metrics_config.yaml': 'metrics_config',
};

/* ------------------------------------------------------------------ reading */

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readYamlFile(files: FileSet, rel: string, required: boolean): unknown {
  const text = files.read(rel);
  if (text === undefined) {
    if (required) throw new MetadataFileError(rel, 'is missing');
    return undefined;
  }
  return parseYaml(text, rel);
}

/** `target` of an `!include` in `fromFile`, relative to the project; it may not leave the project. */
function includePath(fromFile: string, target: string): string {
  const rel = join(dirname(fromFile), target);
  if (rel === '..' || rel.startsWith('../')) throw new MetadataFileError(fromFile, `"!include ${target}" points outside the project; refusing to read it`);
  return rel;
}

/** A folder named in config.yaml, relative to the project; it may not leave the project. */
function projectFolder(value: unknown, key: string, fallback: string): string {
  if (typeof value !== 'string') return fallback;
  const rel = posix.normalize(value).replace(/\/$/, '');
  if (posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) {
    throw new MetadataFileError('config.yaml', `${key} ${value} is outside the project; keep it inside the project folder`);
  }
  return rel;
}

/** Replaces include strings anywhere in `value` by the included file's contents (recursively). */
function resolveIncludes(files: FileSet, value: unknown, fromFile: string, depth = 0): unknown {
  if (depth > 20) throw new MetadataFileError(fromFile, '!include nesting is too deep (a cycle?)');
  const target = includeTarget(value);
  if (target !== undefined) {
    const rel = includePath(fromFile, target);
    return resolveIncludes(files, readYamlFile(files, rel, true), rel, depth + 1);
  }
  if (Array.isArray(value)) return value.map((v) => resolveIncludes(files, v, fromFile, depth));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIncludes(files, v, fromFile, depth)]));
  return value;
}

function asList(value: unknown, file: string, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MetadataFileError(file, `${what} must be a list`);
  return value;
}

function checkFunctionEntry(value: unknown, file: string): FunctionEntry {
  // Hasura also accepts a bare function name (schema public) in old exports.
  if (typeof value === 'string') return { function: { schema: 'public', name: value } };
  if (!isRecord(value) || !isRecord(value.function) || typeof value.function.name !== 'string') {
    throw new MetadataFileError(file, 'a function entry needs `function: {name, schema}`');
  }
  const f = value as FunctionEntry;
  if (f.function.schema === undefined) f.function.schema = 'public';
  return f;
}

function checkTableEntry(value: unknown, file: string): TableEntry {
  if (!isRecord(value) || !isRecord(value.table) || typeof value.table.name !== 'string') {
    throw new MetadataFileError(file, 'a table entry needs `table: {name, schema}`');
  }
  const t = value as TableEntry;
  if (t.table.schema === undefined) t.table.schema = 'public';
  return t;
}

/** Opens a Hasura CLI v3 project directory; every problem is a clear error naming the file. */
export function openProject(dir: string): Project {
  return readProject(new FileSet(dir));
}

export function readProject(files: FileSet): Project {
  const configText = files.read('config.yaml');
  if (configText === undefined) {
    throw new ProjectError(`${files.root} is not a Hasura CLI project: config.yaml is missing (create one with \`hasura init\`)`);
  }
  const config = parseYaml(configText, 'config.yaml');
  if (!isRecord(config) || Number(config.version) !== 3) {
    throw new ProjectError(`${files.root} is not a Hasura CLI v3 project: config.yaml must say \`version: 3\` (run \`hasura scripts update-project-v3\`)`);
  }
  const metadataDir = projectFolder(config.metadata_directory, 'metadata_directory', 'metadata');
  const migrationsDir = projectFolder(config.migrations_directory, 'migrations_directory', 'migrations');
  const M = (f: string) => join(metadataDir, f);

  const version = readYamlFile(files, M('version.yaml'), false);
  if (version === undefined) {
    throw new ProjectError(`${files.root} is not a Hasura CLI v3 project: ${M('version.yaml')} is missing`);
  }
  if (!isRecord(version) || Number(version.version) !== 3) throw new MetadataFileError(M('version.yaml'), 'must say `version: 3`');

  const containers = new Map<string, TablesContainer>();
  const tables = new Map<string, TableLocation>();
  const functionContainers = new Map<string, TablesContainer>();
  const functions = new Map<string, TableLocation>();
  const sourceIndex = new Map<string, number>();
  const dbFile = M('databases/databases.yaml');
  const dbList = asList(readYamlFile(files, dbFile, false), dbFile, 'the list of databases');
  const sources: SourceJson[] = [];
  dbList.forEach((raw, i) => {
    if (!isRecord(raw) || typeof raw.name !== 'string') throw new MetadataFileError(dbFile, `database #${i + 1} needs a name`);
    const { tables: rawTables, functions: rawFunctions, ...rest } = raw;
    const source = resolveIncludes(files, rest, dbFile) as SourceJson;
    sourceIndex.set(raw.name, i);
    const list: TableEntry[] = [];
    let container: TablesContainer;
    const addTables = (items: unknown[], itemsFile: string, c: TablesContainer) => {
      for (const item of items) {
        const target = includeTarget(item);
        const tableFile = target !== undefined ? includePath(itemsFile, target) : undefined;
        const entry = checkTableEntry(
          tableFile ? resolveIncludes(files, readYamlFile(files, tableFile, true), tableFile) : resolveIncludes(files, item, itemsFile),
          tableFile ?? itemsFile,
        );
        list.push(entry);
        tables.set(`${raw.name}/${entry.table.schema}.${entry.table.name}`, { container: c, ...(tableFile ? { file: tableFile } : {}) });
      }
    };
    const target = includeTarget(rawTables);
    if (target !== undefined) {
      const file = includePath(dbFile, target);
      container = { file, path: [], includeStyle: true, dir: dirname(file) };
      addTables(asList(readYamlFile(files, file, true), file, 'the list of tables'), file, container);
    } else {
      container = { file: dbFile, path: [i, 'tables'], includeStyle: false, dir: dirname(dbFile) };
      addTables(asList(rawTables, dbFile, `tables of database ${raw.name}`), dbFile, container);
    }
    containers.set(raw.name, container);
    const fnList: FunctionEntry[] = [];
    if (rawFunctions !== undefined) {
      const fnTarget = includeTarget(rawFunctions);
      const fnFile = fnTarget !== undefined ? join(dirname(dbFile), fnTarget) : dbFile;
      const c: TablesContainer =
        fnTarget !== undefined
          ? { file: fnFile, path: [], includeStyle: true, dir: dirname(fnFile) }
          : { file: dbFile, path: [i, 'functions'], includeStyle: false, dir: dirname(dbFile) };
      const items = asList(fnTarget !== undefined ? readYamlFile(files, fnFile, true) : rawFunctions, fnFile, `functions of database ${raw.name}`);
      for (const item of items) {
        const target = includeTarget(item);
        const itemFile = target !== undefined ? join(dirname(fnFile), target) : undefined;
        const entry = checkFunctionEntry(itemFile ? resolveIncludes(files, readYamlFile(files, itemFile, true), itemFile) : resolveIncludes(files, item, fnFile), itemFile ?? fnFile);
        fnList.push(entry);
        functions.set(`${raw.name}/${entry.function.schema}.${entry.function.name}`, { container: c, ...(itemFile ? { file: itemFile } : {}) });
      }
      functionContainers.set(raw.name, c);
    }
    sources.push({ ...source, tables: list, ...(fnList.length ? { functions: fnList } : {}) });
  });

  const { actions, custom_types } = readActions(files, M('actions.yaml'), M('actions.graphql'));
  const cronFile = M('cron_triggers.yaml');
  const crons = asList(resolveIncludes(files, readYamlFile(files, cronFile, false), cronFile), cronFile, 'cron triggers') as CronTriggerJson[];
  for (const c of crons) if (!isRecord(c) || typeof c.name !== 'string') throw new MetadataFileError(cronFile, 'every cron trigger needs a name');

  const metadata: HasuraMetadata = { version: 3, sources };
  if (actions.length) metadata.actions = actions;
  if (CUSTOM_TYPE_KINDS.some((k) => (custom_types[k]?.length ?? 0) > 0)) metadata.custom_types = custom_types;
  if (crons.length) metadata.cron_triggers = crons;
  for (const [file, key] of Object.entries(OTHER_FILES)) {
    const value = resolveIncludes(files, readYamlFile(files, M(file), false), M(file));
    const empty = value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (isRecord(value) && Object.keys(value).length === 0);
    if (!empty) metadata[key] = value;
  }

  const dups = findDuplicates(metadata);
  if (dups.length) throw new DuplicateObjectError(dups.map((d) => `${d} (in ${metadataDir}/)`));
  return { files, metadataDir, migrationsDir, metadata, containers, tables, functionContainers, functions, sourceIndex, created: new Set() };
}

function readActions(files: FileSet, yamlFile: string, sdlFile: string): { actions: ActionJson[]; custom_types: CustomTypes } {
  const raw = resolveIncludes(files, readYamlFile(files, yamlFile, false), yamlFile);
  const sdlText = files.read(sdlFile) ?? '';
  const sdl = sdlText.trim() ? sdlToJson(parseSdlDocument(sdlText, sdlFile), sdlFile) : undefined;
  if (raw !== undefined && raw !== null && !isRecord(raw)) throw new MetadataFileError(yamlFile, 'must be a map with `actions` and `custom_types`');
  const doc = (raw ?? {}) as Record<string, unknown>;
  const sdlActions = new Map((sdl?.actions ?? []).map((a) => [a.name, a]));
  const actions: ActionJson[] = [];
  const seen = new Set<string>();
  for (const a of asList(doc.actions, yamlFile, 'actions')) {
    if (!isRecord(a) || typeof a.name !== 'string' || !isRecord(a.definition)) {
      throw new MetadataFileError(yamlFile, 'every action needs a name and a definition');
    }
    const s = sdlActions.get(a.name);
    if (!s) throw new MetadataFileError(yamlFile, `action ${a.name} has no field in ${sdlFile}`);
    seen.add(a.name);
    const def = a.definition as Record<string, unknown>;
    actions.push({
      ...(a as unknown as ActionJson),
      definition: {
        ...(def as ActionJson['definition']),
        type: s.type,
        arguments: s.arguments,
        output_type: s.output_type,
      },
    });
  }
  for (const name of sdlActions.keys()) {
    if (!seen.has(name)) throw new MetadataFileError(sdlFile, `declares action ${name}, which has no entry in ${yamlFile}`);
  }
  const custom_types: CustomTypes = { scalars: [], enums: [], input_objects: [], objects: [] };
  const ct = isRecord(doc.custom_types) ? doc.custom_types : {};
  const defined = new Map<string, { kind: (typeof CUSTOM_TYPE_KINDS)[number]; t: AnyCustomType }>();
  for (const kind of CUSTOM_TYPE_KINDS) for (const t of (sdl?.customTypes[kind] ?? []) as AnyCustomType[]) defined.set(t.name, { kind, t });
  const listed = new Set<string>();
  for (const kind of CUSTOM_TYPE_KINDS) {
    for (const entry of asList(ct[kind], yamlFile, `custom_types.${kind}`)) {
      if (!isRecord(entry) || typeof entry.name !== 'string') throw new MetadataFileError(yamlFile, `custom_types.${kind}: every entry needs a name`);
      const d = defined.get(entry.name);
      if (!d) throw new MetadataFileError(yamlFile, `custom type ${entry.name} has no definition in ${sdlFile}`);
      if (d.kind !== kind) throw new MetadataFileError(yamlFile, `custom type ${entry.name} is listed under ${kind} but ${sdlFile} defines it as ${d.kind}`);
      if (listed.has(entry.name)) throw new MetadataFileError(yamlFile, `custom type ${entry.name} is listed more than once`);
      listed.add(entry.name);
      if (kind === 'objects' && Array.isArray(entry.relationships) && entry.relationships.length) {
        (d.t as { relationships?: unknown }).relationships = entry.relationships;
      }
    }
  }
  // The CLI takes type definitions from the SDL; a definition not listed in actions.yaml still counts.
  for (const kind of CUSTOM_TYPE_KINDS) {
    custom_types[kind] = (sdl?.customTypes[kind] ?? []) as never;
  }
  return { actions, custom_types };
}

/* ------------------------------------------------------------------ editing */

function edit(project: Project, file: string, fn: (text: string) => string, createWith?: string): void {
  let text = project.files.read(file);
  if (text === undefined) {
    if (createWith === undefined) throw new MetadataFileError(file, 'is missing');
    text = createWith;
    project.created.add(file);
  }
  project.files.write(file, fn(text));
}

/** actions.yaml keeps what the SDL does not: handler, kind, headers, permissions, comment. */
function actionFileForm(a: ActionJson): Record<string, unknown> {
  const { type: _t, arguments: _a, output_type: _o, ...definition } = a.definition;
  return { ...a, definition };
}

function tableFileName(t: { schema: string; name: string }): string {
  return `${t.schema}_${t.name}.yaml`;
}

function sameTable(item: unknown, t: { schema: string; name: string }): boolean {
  if (!isRecord(item) || !isRecord(item.table)) return false;
  return item.table.name === t.name && (item.table.schema ?? 'public') === t.schema;
}

/** Performs merge operations on the project's files (staged in `project.files`, not yet committed). */
export function applyOpsToProject(project: Project, ops: readonly Op[]): void {
  const M = (f: string) => join(project.metadataDir, f);
  const dbFile = M('databases/databases.yaml');
  for (const op of ops) {
    switch (op.op) {
      case 'add_source': {
        const tablesFile = `${op.source.name}/tables/tables.yaml`;
        const functionsFile = `${op.source.name}/functions/functions.yaml`;
        const item = { ...op.source, tables: `!include ${tablesFile}`, functions: `!include ${functionsFile}` };
        edit(project, dbFile, (t) => appendToSequence(t, dbFile, [], [item]), '[]\n');
        project.sourceIndex.set(op.source.name, project.sourceIndex.size);
        for (const [file, containers] of [
          [tablesFile, project.containers],
          [functionsFile, project.functionContainers],
        ] as const) {
          const rel = join(dirname(dbFile), file);
          if (project.files.exists(rel)) throw new ProjectError(`${rel} already exists; database ${op.source.name} cannot be added`);
          project.files.write(rel, '[]\n');
          project.created.add(rel);
          containers.set(op.source.name, { file: rel, path: [], includeStyle: true, dir: dirname(rel) });
        }
        break;
      }
      case 'drop_source': {
        const c = project.containers.get(op.name);
        edit(project, dbFile, (t) => removeFromSequence(t, dbFile, [], (it) => isRecord(it) && it.name === op.name));
        if (c?.includeStyle) project.files.remove(c.file);
        const fc = project.functionContainers.get(op.name);
        if (fc?.includeStyle) project.files.remove(fc.file);
        project.containers.delete(op.name);
        project.functionContainers.delete(op.name);
        break;
      }
      case 'add_table': {
        const c = project.containers.get(op.source);
        if (!c) throw new ProjectError(`database ${op.source} is not in ${dbFile}`);
        const key = `${op.source}/${op.table.table.schema}.${op.table.table.name}`;
        if (c.includeStyle) {
          const name = tableFileName(op.table.table);
          const rel = join(c.dir, name);
          if (project.files.exists(rel)) {
            throw new ProjectError(`${rel} already exists and is not listed as plugin ${op.plugin}'s table; move it away first`);
          }
          project.files.write(rel, renderYaml(op.table));
          edit(project, c.file, (t) => appendToSequence(t, c.file, c.path, [includeItem(name)]));
          project.tables.set(key, { container: c, file: rel });
        } else {
          edit(project, c.file, (t) => appendToSequence(t, c.file, c.path, [op.table]));
          project.tables.set(key, { container: c });
        }
        break;
      }
      case 'drop_table': {
        const key = `${op.source}/${op.table.schema}.${op.table.name}`;
        const loc = project.tables.get(key);
        if (!loc) throw new ProjectError(`table ${op.table.schema}.${op.table.name} not found in database ${op.source}`);
        const c = loc.container;
        edit(project, c.file, (t) =>
          removeFromSequence(t, c.file, c.path, (it) => {
            const target = includeTarget(it);
            if (target !== undefined) return loc.file !== undefined && join(dirname(c.file), target) === loc.file;
            return sameTable(it, op.table);
          }),
        );
        if (loc.file) project.files.remove(loc.file);
        project.tables.delete(key);
        break;
      }
      case 'add_action': {
        const a = op.action;
        edit(project, M('actions.yaml'), (t) => appendToSequence(t, M('actions.yaml'), ['actions'], [actionFileForm(a)]), EMPTY_ACTIONS_YAML);
        edit(
          project,
          M('actions.graphql'),
          (t) =>
            appendSdl(
              t,
              printActionSdl({
                name: a.name,
                type: a.definition.type ?? 'mutation',
                arguments: a.definition.arguments ?? [],
                output_type: a.definition.output_type ?? 'Boolean',
                // The comment doubles as the field's description, for people and codegen reading the SDL.
                ...(commentText(a.comment) ? { description: commentText(a.comment)! } : {}),
              }),
            ),
          '',
        );
        break;
      }
      case 'drop_action': {
        edit(project, M('actions.yaml'), (t) => removeFromSequence(t, M('actions.yaml'), ['actions'], (it) => isRecord(it) && it.name === op.name));
        edit(project, M('actions.graphql'), (t) => removeFromSdl(t, M('actions.graphql'), new Set([op.name]), new Set()));
        break;
      }
      case 'add_custom_type': {
        const t = op.type;
        const entry = { name: t.name, ...(op.kind === 'objects' && (t as { relationships?: unknown[] }).relationships?.length ? { relationships: (t as { relationships: unknown[] }).relationships } : {}) };
        edit(project, M('actions.yaml'), (x) => appendToSequence(x, M('actions.yaml'), ['custom_types', op.kind], [entry]), EMPTY_ACTIONS_YAML);
        edit(project, M('actions.graphql'), (x) => appendSdl(x, printCustomTypeSdl(op.kind, t)), '');
        break;
      }
      case 'drop_custom_type': {
        edit(project, M('actions.yaml'), (x) =>
          removeFromSequence(x, M('actions.yaml'), ['custom_types', op.kind], (it) => isRecord(it) && it.name === op.name),
        );
        edit(project, M('actions.graphql'), (x) => removeFromSdl(x, M('actions.graphql'), new Set(), new Set([op.name])));
        break;
      }
      case 'add_cron':
        edit(project, M('cron_triggers.yaml'), (t) => appendToSequence(t, M('cron_triggers.yaml'), [], [op.cron]), '[]\n');
        break;
      case 'add_function': {
        let c = project.functionContainers.get(op.source);
        if (!c) {
          // The database has no `functions` key yet: list them inline under it.
          const i = project.sourceIndex.get(op.source);
          if (i === undefined) throw new ProjectError(`database ${op.source} is not in ${dbFile}`);
          c = { file: dbFile, path: [i, 'functions'], includeStyle: false, dir: dirname(dbFile) };
          project.functionContainers.set(op.source, c);
        }
        const key = `${op.source}/${op.function.function.schema}.${op.function.function.name}`;
        if (c.includeStyle) {
          const name = tableFileName(op.function.function);
          const rel = join(c.dir, name);
          if (project.files.exists(rel)) throw new ProjectError(`${rel} already exists and is not a function the installer added; move it away first`);
          project.files.write(rel, renderYaml(op.function));
          const container = c;
          edit(project, c.file, (t) => appendToSequence(t, container.file, container.path, [includeItem(name)]));
          project.functions.set(key, { container: c, file: rel });
        } else {
          const container = c;
          edit(project, c.file, (t) => appendToSequence(t, container.file, container.path, [op.function]));
          project.functions.set(key, { container: c });
        }
        break;
      }
      case 'drop_function': {
        const key = `${op.source}/${op.function.schema}.${op.function.name}`;
        const loc = project.functions.get(key);
        if (!loc) throw new ProjectError(`function ${op.function.schema}.${op.function.name} not found in database ${op.source}`);
        const c = loc.container;
        edit(project, c.file, (t) =>
          removeFromSequence(t, c.file, c.path, (it) => {
            const target = includeTarget(it);
            if (target !== undefined) return loc.file !== undefined && join(dirname(c.file), target) === loc.file;
            return isRecord(it) && isRecord(it.function) && it.function.name === op.function.name && (it.function.schema ?? 'public') === op.function.schema;
          }),
        );
        if (loc.file) project.files.remove(loc.file);
        project.functions.delete(key);
        if (!c.includeStyle && ![...project.functions.values()].some((l) => l.container === c)) {
          // An inline list left empty goes with its key, as the CLI writes a database without functions.
          edit(project, c.file, (t) => removeEmptyListKey(t, c.file, c.path));
          project.functionContainers.delete(op.source);
        }
        break;
      }
      case 'add_remote_schema':
        edit(project, M('remote_schemas.yaml'), (t) => appendToSequence(t, M('remote_schemas.yaml'), [], [op.remoteSchema]), '[]\n');
        break;
      case 'drop_remote_schema':
        edit(project, M('remote_schemas.yaml'), (t) => removeFromSequence(t, M('remote_schemas.yaml'), [], (it) => isRecord(it) && it.name === op.name));
        break;
      case 'drop_cron':
        edit(project, M('cron_triggers.yaml'), (t) => removeFromSequence(t, M('cron_triggers.yaml'), [], (it) => isRecord(it) && it.name === op.name));
        break;
      case 'add_event_trigger': {
        const { file, path } = tableEntryPath(project, op.source, op.table);
        edit(project, file, (t) => appendToSequence(t, file, [...path, 'event_triggers'], [op.trigger]));
        break;
      }
      case 'drop_event_trigger': {
        const { file, path } = tableEntryPath(project, op.source, op.table);
        edit(project, file, (t) => {
          const out = removeFromSequence(t, file, [...path, 'event_triggers'], (it) => isRecord(it) && it.name === op.name);
          // The last trigger gone: the key goes too, as the CLI writes a table without triggers.
          return removeEmptyListKey(out, file, [...path, 'event_triggers']);
        });
        break;
      }
    }
  }
}

/** The file holding a tracked table's entry and the YAML path of the entry in it. */
function tableEntryPath(project: Project, source: string, table: { schema: string; name: string }): { file: string; path: (string | number)[] } {
  const loc = project.tables.get(`${source}/${table.schema}.${table.name}`);
  if (!loc) throw new ProjectError(`table ${table.schema}.${table.name} is not tracked in database ${source}`);
  if (loc.file) return { file: loc.file, path: [] };
  const c = loc.container;
  const text = project.files.read(c.file);
  const list = text === undefined ? undefined : valueAt(text, c.file, c.path);
  const index = Array.isArray(list) ? list.findIndex((it) => sameTable(it, table)) : -1;
  if (index < 0) throw new ProjectError(`table ${table.schema}.${table.name} not found in ${c.file}`);
  return { file: c.file, path: [...c.path, index] };
}
