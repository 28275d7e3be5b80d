/**
 * A plugin manifest plus its SDL → the Hasura metadata objects it owns (a `Fragment`), validated.
 *
 * Every problem found is reported at once, each naming the plugin and the object, because a plugin author
 * fixes a manifest in one pass. The suite's conventions are enforced here so that Hasura never rejects what
 * we generate: names that fit Postgres identifiers, SDL that parses with Hasura's PG scalars, and a manifest
 * and SDL that declare exactly the same actions.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildASTSchema, Kind, parse, printSchema, validateSchema, type DocumentNode, type GraphQLSchema } from 'graphql';
import { defaultFeatures, featureSelectionProblems, featureTagProblems } from '../core/features.js';
import { CronExpressionParser } from 'cron-parser';
import { HASURA_SCALAR_NAMES, HASURA_SCALARS_SDL } from '../core/hasura-scalars.js';
import type { PluginManifest, TableSpec } from '../core/plugin.js';
import { namedType, parseSdlDocument, ROOT_TYPES, SdlError, sdlToJson, type ParsedSdl } from './sdl.js';
import type {
  ActionJson,
  AnyCustomType,
  CronTriggerJson,
  CustomObjectType,
  CustomTypeKind,
  EventTriggerJson,
  Fragment,
  FunctionEntry,
  RemoteSchemaJson,
  HeaderConf,
  MigrationFiles,
  TableEntry,
} from './types.js';
import { CUSTOM_TYPE_KINDS } from './types.js';

/* ------------------------------------------------------------------ suite conventions */

/** Hasura resolves `{{NSELF_PLUGINS_URL}}` from its own environment when it calls a webhook. */
export const PLUGINS_URL_TEMPLATE = '{{NSELF_PLUGINS_URL}}';
export const SECRET_HEADER = 'x-nself-plugins-secret';
export const SECRET_ENV = 'NSELF_PLUGINS_WEBHOOK_SECRET';
/** Migrations of the suite itself (event receipts, …), installed with the first plugin. */
export const FOUNDATION = 'nself_plugins';

export const SECRET_HEADERS: HeaderConf[] = [{ name: SECRET_HEADER, value_from_env: SECRET_ENV }];

/**
 * Event trigger retries. Hasura's own default is no retry at all (num_retries 0), so one failed delivery —
 * a deploy, a restart — would drop the event. Ten tries 30 s apart ride out about five minutes of handler
 * downtime; handlers that need longer back-off answer with `Retry-After`.
 */
export const DEFAULT_EVENT_RETRY = { num_retries: 10, interval_sec: 30, timeout_sec: 60 } as const;

/**
 * Cron retries: a missed run of housekeeping-style work is retried a few times a minute apart; the tolerance
 * keeps Hasura's default (events older than 6 h are dropped instead of fired in a burst).
 */
export const DEFAULT_CRON_RETRY = {
  num_retries: 3,
  retry_interval_seconds: 60,
  timeout_seconds: 60,
  tolerance_seconds: 21600,
} as const;

/** Hasura's trigger-name rule; ours is stricter (snake_case with the plugin prefix). */
const HASURA_TRIGGER_NAME = /^[A-Za-z]+[A-Za-z0-9_-]*$/;
/** `notify_hasura_<name>_<OP>` must fit PostgreSQL's 63-byte identifiers. */
export const MAX_TRIGGER_NAME = 42;
const PLUGIN_NAME = /^[a-z][a-z0-9_]*$/;
const RESERVED_PLUGIN_NAMES = new Set([FOUNDATION, 'public', 'hdb_catalog', 'information_schema', 'pg_catalog']);

export function markerFor(plugin: string, version: string): string {
  return `nself-plugins:${plugin}@${version}`;
}

const MARKER = /nself-plugins:([a-z][a-z0-9_]*)@([0-9A-Za-z.+_-]+)/;

/** The plugin and version a `comment` marks, if any. */
export function parseMarker(comment: unknown): { plugin: string; version: string } | undefined {
  if (typeof comment !== 'string') return undefined;
  const m = MARKER.exec(comment);
  return m ? { plugin: m[1]!, version: m[2]! } : undefined;
}

/**
 * `comment` with the marker: the human text first, on one line (Hasura shows an action's comment as the
 * GraphQL field's description).
 */
export function markedComment(marker: string, text?: string): string {
  const t = text?.replace(/\s+/g, ' ').trim();
  return t ? `${t} (${marker})` : marker;
}

/** The human text of a marked comment. */
export function commentText(comment: unknown): string | undefined {
  if (typeof comment !== 'string') return undefined;
  const t = comment.replace(/\s*\(?nself-plugins:[a-z][a-z0-9_]*@[0-9A-Za-z.+_-]+\)?\s*/, ' ').trim();
  return t || undefined;
}

export function camelPrefix(plugin: string): string {
  return plugin.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/* ------------------------------------------------------------------ errors */

export class FragmentError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `invalid plugin metadata:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'FragmentError';
  }
}

/* ------------------------------------------------------------------ SDL */

/** Parses and checks a plugin's SDL: syntax, no redeclared PG scalars, every referenced type defined. */
export function checkPluginSdl(sdl: string, file: string): { parsed: ParsedSdl; doc: DocumentNode } {
  const doc = parseSdlDocument(sdl, file);
  for (const def of doc.definitions) {
    if ('name' in def && def.name && HASURA_SCALAR_NAMES.includes(def.name.value)) {
      throw new SdlError(file, `declares ${def.name.value}, a PostgreSQL scalar Hasura already provides; remove the declaration`);
    }
  }
  const parsed = sdlToJson(doc, file);
  // Validate as a schema with Hasura's scalars beside it. Root types are rebuilt from the collected fields, so
  // `extend type Mutation` works without a base type, and a placeholder Query keeps the schema valid when the
  // plugin has no queries.
  const nonRoot = doc.definitions.filter(
    (d) => !(('name' in d && d.name && ROOT_TYPES.has(d.name.value)) && (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION)),
  );
  const rootFields = (root: 'Query' | 'Mutation') =>
    doc.definitions.flatMap((d) =>
      (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) && d.name.value === root ? (d.fields ?? []) : [],
    );
  const queries = rootFields('Query');
  const mutations = rootFields('Mutation');
  const scalars = parse(HASURA_SCALARS_SDL);
  const schemaDoc: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      ...scalars.definitions,
      ...nonRoot,
      {
        kind: Kind.OBJECT_TYPE_DEFINITION,
        name: { kind: Kind.NAME, value: 'Query' },
        fields: queries.length ? queries : parse('type Q { _placeholder: Boolean }').definitions.flatMap((d) => (d.kind === Kind.OBJECT_TYPE_DEFINITION ? (d.fields ?? []) : [])),
      },
      ...(mutations.length ? [{ kind: Kind.OBJECT_TYPE_DEFINITION, name: { kind: Kind.NAME, value: 'Mutation' }, fields: mutations } as const] : []),
    ],
  };
  let errors: readonly { message: string }[];
  try {
    errors = validateSchema(buildASTSchema(schemaDoc));
  } catch (e) {
    errors = [{ message: (e as Error).message }];
  }
  if (errors.length) throw new SdlError(file, errors.map((e) => e.message).join('; '));
  return { parsed, doc };
}

/* ------------------------------------------------------------------ migrations */

const MIGRATION_DIR = /^(\d+)_([a-z0-9_]+)$/;

/** Migration folders of `owner` (`<version>_<owner>_<what>`) in `dir`, oldest first. */
export function readMigrations(dir: string, owner: string, allOwners: readonly string[]): MigrationFiles[] {
  if (!existsSync(dir)) return [];
  // The longest owner wins, so plugin `files` does not claim `files_sharing_…` of a plugin `files_sharing`.
  const owners = [...new Set([...allOwners, owner])].sort((a, b) => b.length - a.length);
  const out: MigrationFiles[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const m = MIGRATION_DIR.exec(entry.name);
    if (!m) continue;
    const rest = m[2]!;
    const who = owners.find((o) => rest.startsWith(o + '_'));
    if (who !== owner) continue;
    const up = join(dir, entry.name, 'up.sql');
    const down = join(dir, entry.name, 'down.sql');
    if (!existsSync(up)) throw new FragmentError([`migration ${entry.name}: up.sql is missing`]);
    if (!existsSync(down)) throw new FragmentError([`migration ${entry.name}: down.sql is missing (every migration needs one)`]);
    out.push({ version: m[1]!, name: rest, up: readFileSync(up, 'utf8'), down: readFileSync(down, 'utf8') });
  }
  return out.sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : BigInt(a.version) > BigInt(b.version) ? 1 : 0));
}

/* ------------------------------------------------------------------ manifest → fragment */

export interface FragmentInput {
  manifest: PluginManifest<any>;
  /** Features switched on (default: the manifest's default features). */
  features?: readonly string[];
  /** Text of `actions/<plugin>/actions.graphql` (absent: the plugin has no actions). */
  sdl?: string;
  /** Shown in errors. */
  sdlFile?: string;
  migrations: MigrationFiles[];
}

function retryOf<T extends object>(defaults: T, given: Partial<T> | undefined, where: string, problems: string[]): T {
  const merged = { ...defaults, ...(given ?? {}) } as Record<string, unknown>;
  for (const [k, v] of Object.entries(merged)) {
    if (!(k in defaults)) problems.push(`${where}: unknown retry_conf key ${k}`);
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) problems.push(`${where}: retry_conf.${k} must be a non-negative integer`);
  }
  return merged as T;
}

function checkTable(plugin: string, t: TableSpec, problems: string[], where: string): void {
  if (t.table.schema !== plugin) problems.push(`${where}: table ${t.table.schema}.${t.table.name} must live in the plugin's schema "${plugin}"`);
  if (!/^[a-z_][a-z0-9_]*$/.test(t.table.name)) problems.push(`${where}: table name ${t.table.name} must be lower snake_case`);
  const rels = new Set<string>();
  for (const r of [...(t.object_relationships ?? []), ...(t.array_relationships ?? [])]) {
    if (rels.has(r.name)) problems.push(`${where}: relationship ${r.name} is declared twice`);
    rels.add(r.name);
  }
  for (const kind of ['insert', 'select', 'update', 'delete'] as const) {
    const roles = new Set<string>();
    for (const p of t[`${kind}_permissions`] ?? []) {
      if (!p.role || p.role === 'admin') problems.push(`${where}: ${kind} permission role "${p.role}" is not allowed (admin always has access)`);
      if (roles.has(p.role)) problems.push(`${where}: ${kind} permission for role ${p.role} is declared twice`);
      roles.add(p.role);
    }
  }
}

function checkTriggerName(plugin: string, name: string, what: string, problems: string[]): void {
  const pattern = new RegExp(`^${plugin}_[a-z0-9]+(_[a-z0-9]+)*$`);
  if (!pattern.test(name) || !HASURA_TRIGGER_NAME.test(name)) {
    problems.push(`plugin ${plugin}: ${what} name "${name}" must be snake_case and start with "${plugin}_"`);
  }
  if (name.length > MAX_TRIGGER_NAME) {
    problems.push(`plugin ${plugin}: ${what} name "${name}" is ${name.length} characters; at most ${MAX_TRIGGER_NAME} (Hasura names PostgreSQL functions after it)`);
  }
}

/** Builds one plugin's fragment; throws `FragmentError` listing every problem. */
export function buildFragment(input: FragmentInput): Fragment {
  const m = input.manifest;
  const problems: string[] = [];
  const P = `plugin ${m.name}`;
  if (!PLUGIN_NAME.test(m.name)) problems.push(`${P}: name must be lower snake_case (it is the PostgreSQL schema)`);
  if (RESERVED_PLUGIN_NAMES.has(m.name)) problems.push(`${P}: name is reserved`);
  if (!/^[0-9A-Za-z.+_-]+$/.test(m.version)) problems.push(`${P}: version "${m.version}" must be a plain version string`);
  if (problems.length) throw new FragmentError(problems);

  const marker = markerFor(m.name, m.version);
  const sdlFile = input.sdlFile ?? `actions/${m.name}/actions.graphql`;
  problems.push(...featureTagProblems(m));
  const features = [...new Set(input.features ?? defaultFeatures(m))].sort();
  problems.push(...featureSelectionProblems(m, features));
  if (problems.length) throw new FragmentError(problems);
  const on = new Set(features);
  const enabled = (x: { feature?: string | undefined }) => x.feature === undefined || on.has(x.feature);

  // SDL ↔ manifest actions, one to one.
  let parsed: ParsedSdl = { actions: [], customTypes: { scalars: [], enums: [], input_objects: [], objects: [] }, typeOrder: [] };
  if (input.sdl !== undefined && input.sdl.trim() !== '') {
    try {
      parsed = checkPluginSdl(input.sdl, sdlFile).parsed;
    } catch (e) {
      throw new FragmentError([`${P}: ${(e as Error).message}`]);
    }
  }
  const manifestActions = m.actions ?? {};
  const sdlActions = new Map(parsed.actions.map((a) => [a.name, a]));
  const prefix = camelPrefix(m.name);
  for (const name of Object.keys(manifestActions)) {
    if (!sdlActions.has(name)) problems.push(`${P}: action ${name} has no field in ${sdlFile} (add it to extend type Query or Mutation)`);
    if (!new RegExp(`^${prefix}[A-Z][A-Za-z0-9]*$`).test(name)) problems.push(`${P}: action name ${name} must be camelCase and start with "${prefix}"`);
  }
  for (const a of parsed.actions) {
    if (!(a.name in manifestActions)) problems.push(`${P}: ${sdlFile} declares action ${a.name}, which has no entry in the manifest's actions`);
  }

  const actions: ActionJson[] = [];
  for (const a of parsed.actions) {
    const spec = manifestActions[a.name];
    if (!spec) continue;
    if (spec.feature !== undefined && !on.has(spec.feature)) continue;
    const where = `${P}: action ${a.name}`;
    if (typeof spec.handler !== 'function') problems.push(`${where}: handler is not a function`);
    if (spec.kind === 'asynchronous' && a.type === 'query') problems.push(`${where}: a query cannot be asynchronous (Hasura runs queries synchronously)`);
    if (spec.timeout !== undefined && (!Number.isInteger(spec.timeout) || spec.timeout <= 0)) problems.push(`${where}: timeout must be a positive number of seconds`);
    const roles = spec.permissions ?? [];
    if (new Set(roles).size !== roles.length) problems.push(`${where}: a permission role is listed twice`);
    if (roles.some((r) => !r || r === 'admin')) problems.push(`${where}: permission roles must be non-empty and not admin (admin always has access)`);
    actions.push({
      name: a.name,
      definition: {
        handler: `${PLUGINS_URL_TEMPLATE}/actions/${a.name}`,
        type: a.type,
        ...(a.type === 'mutation' ? { kind: spec.kind ?? 'synchronous' } : {}),
        arguments: a.arguments,
        output_type: a.output_type,
        headers: SECRET_HEADERS.map((h) => ({ ...h })),
        forward_client_headers: spec.forward_client_headers ?? false,
        ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
      },
      ...(roles.length ? { permissions: roles.map((role) => ({ role })) } : {}),
      comment: markedComment(marker, spec.comment ?? a.description),
    });
  }

  // Every custom type must be used by one of the plugin's actions: unused types could not be attributed to
  // the plugin when it is removed.
  const typeKinds = new Map<string, CustomTypeKind>();
  for (const kind of CUSTOM_TYPE_KINDS) for (const t of parsed.customTypes[kind] as AnyCustomType[]) typeKinds.set(t.name, kind);
  const reachable = new Set<string>();
  const visit = (type: string) => {
    const n = namedType(type);
    if (reachable.has(n) || !typeKinds.has(n)) return;
    reachable.add(n);
    const kind = typeKinds.get(n)!;
    if (kind === 'objects' || kind === 'input_objects') {
      const t = (parsed.customTypes[kind] as Array<{ name: string; fields: Array<{ type: string }> }>).find((x) => x.name === n)!;
      for (const f of t.fields) visit(f.type);
    }
  };
  for (const a of parsed.actions) {
    visit(a.output_type);
    for (const arg of a.arguments) visit(arg.type);
  }
  for (const name of parsed.typeOrder) {
    if (!reachable.has(name)) problems.push(`${P}: type ${name} in ${sdlFile} is not used by any action`);
  }
  // Only the types of the actions that are on go into the metadata.
  reachable.clear();
  for (const a of actions) {
    visit(a.definition.output_type ?? '');
    for (const arg of a.definition.arguments ?? []) visit(arg.type);
  }
  const customTypes = {
    scalars: parsed.customTypes.scalars.filter((t) => reachable.has(t.name)),
    enums: parsed.customTypes.enums.filter((t) => reachable.has(t.name)),
    input_objects: parsed.customTypes.input_objects.filter((t) => reachable.has(t.name)),
    objects: parsed.customTypes.objects.filter((t) => reachable.has(t.name)).map((t) => ({ ...t })),
  };

  // Tables and their event triggers.
  const tables: TableEntry[] = [];
  const seenTables = new Set<string>();
  for (const t of m.tables ?? []) {
    const where = `${P}: table ${t.table.schema}.${t.table.name}`;
    const key = `${t.table.schema}.${t.table.name}`;
    if (seenTables.has(key)) problems.push(`${where} is declared twice`);
    seenTables.add(key);
    checkTable(m.name, t, problems, where);
    const triggers: EventTriggerJson[] = [];
    const tableOn = enabled(t);
    for (const trig of t.event_triggers ?? []) {
      checkTriggerName(m.name, trig.name, 'event trigger', problems);
      const tw = `${P}: event trigger ${trig.name}`;
      if (typeof trig.handler !== 'function') problems.push(`${tw}: handler is not a function`);
      const d = trig.definition;
      if (!d.insert && !d.update && !d.delete && !d.enable_manual) problems.push(`${tw}: enable at least one of insert, update, delete, enable_manual`);
      if (!tableOn || !enabled(trig)) continue;
      triggers.push({
        name: trig.name,
        definition: {
          enable_manual: d.enable_manual ?? false,
          ...(d.insert ? { insert: { ...d.insert } } : {}),
          ...(d.update ? { update: { ...d.update } } : {}),
          ...(d.delete ? { delete: { ...d.delete } } : {}),
        },
        retry_conf: retryOf({ ...DEFAULT_EVENT_RETRY }, trig.retry_conf, tw, problems),
        webhook: `${PLUGINS_URL_TEMPLATE}/events/${trig.name}`,
        headers: SECRET_HEADERS.map((h) => ({ ...h })),
      });
    }
    if (!tableOn) continue;
    const { event_triggers: _omit, feature: _feature, ...rest } = t;
    const entry: TableEntry = JSON.parse(JSON.stringify(rest)) as TableEntry;
    for (const k of ['object_relationships', 'array_relationships', 'insert_permissions', 'select_permissions', 'update_permissions', 'delete_permissions'] as const) {
      if (Array.isArray(entry[k]) && entry[k]!.length === 0) delete entry[k];
    }
    if (triggers.length) entry.event_triggers = triggers;
    tables.push(entry);
  }

  const crons: CronTriggerJson[] = [];
  for (const [name, spec] of Object.entries(m.crons ?? {})) {
    checkTriggerName(m.name, name, 'cron trigger', problems);
    const cw = `${P}: cron trigger ${name}`;
    if (typeof spec.handler !== 'function') problems.push(`${cw}: handler is not a function`);
    const fields = spec.schedule.trim().split(/\s+/);
    if (fields.length !== 5) problems.push(`${cw}: schedule "${spec.schedule}" must have 5 fields (Hasura evaluates it in UTC, without seconds)`);
    else {
      try {
        CronExpressionParser.parse(spec.schedule, { tz: 'UTC' });
      } catch (e) {
        problems.push(`${cw}: schedule "${spec.schedule}" is not a valid cron expression: ${(e as Error).message}`);
      }
    }
    if (!enabled(spec)) continue;
    crons.push({
      name,
      webhook: `${PLUGINS_URL_TEMPLATE}/cron/${name}`,
      schedule: spec.schedule.trim(),
      include_in_metadata: true,
      payload: spec.payload ?? {},
      retry_conf: retryOf({ ...DEFAULT_CRON_RETRY }, spec.retry_conf, cw, problems),
      headers: SECRET_HEADERS.map((h) => ({ ...h })),
      comment: markedComment(marker, spec.comment),
    });
  }

  for (const mig of input.migrations) {
    if (!mig.name.startsWith(`${m.name}_`)) problems.push(`${P}: migration ${mig.version}_${mig.name} must be named <version>_${m.name}_<what>`);
  }

  attachActionRelationships(m, parsed, customTypes.objects, new Set(tables.map((t) => `${t.table.schema}.${t.table.name}`)), problems);
  const functions = functionEntries(m, on, problems);
  const remoteSchemas = remoteSchemaEntries(m, marker, on, problems);

  if (problems.length) throw new FragmentError(problems);
  return {
    plugin: m.name,
    version: m.version,
    marker,
    dependsOn: [...(m.dependsOn ?? [])],
    tables,
    actions,
    customTypes,
    crons,
    functions,
    remoteSchemas,
    migrations: input.migrations,
    features,
  };
}

const SNAKE = /^[a-z_][a-z0-9_]*$/;

/**
 * Puts the manifest's action relationships on the output object types. A relationship to a table of the
 * plugin that a disabled feature leaves untracked is left out with it (Hasura would call it inconsistent).
 */
function attachActionRelationships(
  m: PluginManifest<any>,
  parsed: ParsedSdl,
  emitted: Array<CustomObjectType>,
  tracked: ReadonlySet<string>,
  problems: string[],
): void {
  const P = `plugin ${m.name}`;
  const tableFeature = new Map((m.tables ?? []).map((t) => [`${t.table.schema}.${t.table.name}`, t.feature]));
  for (const [typeName, rels] of Object.entries(m.actionRelationships ?? {})) {
    const where = `${P}: action relationships of ${typeName}`;
    const sdlType = parsed.customTypes.objects.find((o) => o.name === typeName);
    if (!sdlType) {
      problems.push(`${where}: ${typeName} is not an object type of the plugin's actions SDL`);
      continue;
    }
    const fields = new Set(sdlType.fields.map((f) => f.name));
    const names = new Set<string>();
    const out: Array<Record<string, unknown> & { name: string }> = [];
    for (const r of rels) {
      const rw = `${where}: relationship ${r.name}`;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(r.name)) problems.push(`${rw}: name must be a GraphQL name`);
      if (names.has(r.name)) problems.push(`${rw} is declared twice`);
      names.add(r.name);
      if (fields.has(r.name)) problems.push(`${rw}: ${typeName} already has a field of that name`);
      if (r.type !== 'object' && r.type !== 'array') problems.push(`${rw}: type must be object or array`);
      if (!SNAKE.test(r.remote_table.schema) || !SNAKE.test(r.remote_table.name)) problems.push(`${rw}: remote_table must name a table in lower snake_case`);
      const mapping = Object.entries(r.field_mapping ?? {});
      if (mapping.length === 0) problems.push(`${rw}: field_mapping is empty`);
      for (const [field, column] of mapping) {
        if (!fields.has(field)) problems.push(`${rw}: field_mapping names ${field}, which ${typeName} does not have`);
        if (!SNAKE.test(column)) problems.push(`${rw}: field_mapping column ${column} must be lower snake_case`);
      }
      const key = `${r.remote_table.schema}.${r.remote_table.name}`;
      if (r.remote_table.schema === m.name) {
        if (!tableFeature.has(key)) problems.push(`${rw}: table ${key} is not one of the plugin's tables`);
        if (!tracked.has(key)) continue;
      }
      out.push({ name: r.name, type: r.type, remote_table: { ...r.remote_table }, field_mapping: { ...r.field_mapping } });
    }
    const target = emitted.find((o) => o.name === typeName);
    if (target && out.length) target.relationships = out;
  }
}

function functionEntries(m: PluginManifest<any>, on: ReadonlySet<string>, problems: string[]): FunctionEntry[] {
  const P = `plugin ${m.name}`;
  const out: FunctionEntry[] = [];
  const seen = new Set<string>();
  for (const f of m.functions ?? []) {
    const key = `${f.function.schema}.${f.function.name}`;
    const where = `${P}: function ${key}`;
    if (f.function.schema !== m.name) problems.push(`${where} must live in the plugin's schema "${m.name}"`);
    if (!SNAKE.test(f.function.name)) problems.push(`${where}: name must be lower snake_case`);
    if (seen.has(key)) problems.push(`${where} is declared twice`);
    seen.add(key);
    const roles = f.permissions ?? [];
    if (new Set(roles).size !== roles.length) problems.push(`${where}: a permission role is listed twice`);
    if (roles.some((r) => !r || r === 'admin')) problems.push(`${where}: permission roles must be non-empty and not admin (admin always has access)`);
    const exposed = f.configuration?.exposed_as;
    if (exposed !== undefined && exposed !== 'query' && exposed !== 'mutation') problems.push(`${where}: exposed_as must be query or mutation`);
    if (f.feature !== undefined && !on.has(f.feature)) continue;
    out.push({
      function: { ...f.function },
      ...(f.configuration && Object.keys(f.configuration).length ? { configuration: JSON.parse(JSON.stringify(f.configuration)) as Record<string, unknown> } : {}),
      ...(roles.length ? { permissions: roles.map((role) => ({ role })) } : {}),
      ...(f.comment ? { comment: f.comment } : {}),
    });
  }
  return out;
}

/** Where Hasura reaches a plugin's remote schema (the handler server serves it). */
export function remoteSchemaUrl(plugin: string): string {
  return `${PLUGINS_URL_TEMPLATE}/remote-schemas/${plugin}`;
}

const BUILTIN_TYPES = new Set(['String', 'Int', 'Float', 'Boolean', 'ID']);

/** The named types a remote schema adds to Hasura's schema (those Hasura merges into one namespace). */
export function remoteSchemaTypeNames(schema: GraphQLSchema): string[] {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  return Object.keys(schema.getTypeMap())
    .filter((n) => !n.startsWith('__') && !BUILTIN_TYPES.has(n) && !roots.has(n))
    .sort();
}

function remoteSchemaEntries(m: PluginManifest<any>, marker: string, on: ReadonlySet<string>, problems: string[]): RemoteSchemaJson[] {
  const spec = m.remoteSchema;
  if (!spec) return [];
  const where = `plugin ${m.name}: remote schema`;
  let schema: GraphQLSchema;
  try {
    schema = spec.schema();
    const errors = validateSchema(schema);
    if (errors.length) throw new Error(errors.map((e) => e.message).join('; '));
  } catch (e) {
    problems.push(`${where}: the schema is invalid: ${(e as Error).message}`);
    return [];
  }
  const prefix = camelPrefix(m.name);
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.keys(root?.getFields() ?? {})) {
      if (!new RegExp(`^${prefix}[A-Z_][A-Za-z0-9_]*$`).test(field)) problems.push(`${where}: root field ${field} must start with "${prefix}" (it shares Hasura's root with every plugin and table)`);
    }
  }
  // Hasura merges a remote schema's types into the one schema every plugin and table shares.
  const typePrefix = prefix.charAt(0).toUpperCase() + prefix.slice(1);
  for (const name of remoteSchemaTypeNames(schema)) {
    if (!name.startsWith(typePrefix)) problems.push(`${where}: type ${name} must start with "${typePrefix}" (types share Hasura's schema with every plugin and table)`);
  }
  if (schema.getSubscriptionType()) problems.push(`${where}: Hasura does not forward subscriptions to remote schemas; remove the Subscription type`);
  const roles = spec.permissions ?? [];
  if (roles.some((r) => !r || r === 'admin')) problems.push(`${where}: permission roles must be non-empty and not admin`);
  if (spec.timeout_seconds !== undefined && (!Number.isInteger(spec.timeout_seconds) || spec.timeout_seconds <= 0)) problems.push(`${where}: timeout_seconds must be a positive whole number`);
  if (spec.feature !== undefined && !on.has(spec.feature)) return [];
  const sdl = printSchema(schema);
  return [
    {
      name: m.name,
      definition: {
        url: remoteSchemaUrl(m.name),
        headers: SECRET_HEADERS.map((h) => ({ ...h })),
        forward_client_headers: false,
        timeout_seconds: spec.timeout_seconds ?? 60,
      },
      comment: markedComment(marker, spec.comment),
      ...(roles.length ? { permissions: roles.map((role) => ({ role, definition: { schema: sdl } })) } : {}),
    },
  ];
}

/** Names must be unique across plugins: actions, types, triggers, crons and tables share Hasura namespaces. */
export function checkFragmentsTogether(fragments: readonly Fragment[]): void {
  const problems: string[] = [];
  const owners = new Map<string, string>();
  const claim = (ns: string, name: string, plugin: string) => {
    const key = `${ns}\u0000${name}`;
    const prev = owners.get(key);
    if (prev && prev !== plugin) problems.push(`${ns} ${name} is declared by plugin ${prev} and by plugin ${plugin}`);
    else owners.set(key, plugin);
  };
  for (const f of fragments) {
    for (const a of f.actions) claim('action', a.name, f.plugin);
    for (const kind of CUSTOM_TYPE_KINDS) for (const t of f.customTypes[kind] as AnyCustomType[]) claim('type', t.name, f.plugin);
    for (const t of f.tables) {
      claim('table', `${t.table.schema}.${t.table.name}`, f.plugin);
      for (const trig of t.event_triggers ?? []) claim('event trigger', trig.name, f.plugin);
    }
    for (const c of f.crons) claim('cron trigger', c.name, f.plugin);
    for (const fn of f.functions) claim('function', `${fn.function.schema}.${fn.function.name}`, f.plugin);
    for (const r of f.remoteSchemas) claim('remote schema', r.name, f.plugin);
  }
  if (problems.length) throw new FragmentError(problems);
}

/* ------------------------------------------------------------------ the package's own plugins */

export interface CatalogEntry {
  manifest: PluginManifest<any>;
  sdlPath: string;
  readmePath?: string;
}

/** Where plugins and their files come from: the suite itself, or a test's fixtures. */
export interface PluginCatalog {
  plugins: readonly CatalogEntry[];
  /** `hasura/migrations/default` holding `<version>_<plugin>_<what>` folders. */
  migrationsDir: string;
}

export function fragmentFromCatalog(catalog: PluginCatalog, entry: CatalogEntry, features?: readonly string[]): Fragment {
  const owners = [FOUNDATION, ...catalog.plugins.map((p) => p.manifest.name)];
  const sdl = existsSync(entry.sdlPath) ? readFileSync(entry.sdlPath, 'utf8') : undefined;
  return buildFragment({
    manifest: entry.manifest,
    ...(features ? { features } : {}),
    sdl,
    sdlFile: entry.sdlPath,
    migrations: readMigrations(catalog.migrationsDir, entry.manifest.name, owners),
  });
}

export function foundationMigrations(catalog: PluginCatalog): MigrationFiles[] {
  return readMigrations(catalog.migrationsDir, FOUNDATION, [FOUNDATION, ...catalog.plugins.map((p) => p.manifest.name)]);
}
