/**
 * Reads a Hasura v3 metadata directory (the layout `hasura metadata export` writes) into one object, the way the
 * Hasura CLI does before `replace_metadata`: `"!include <file>"` strings are plain YAML strings that name a file
 * relative to the including file's directory, resolved recursively.
 *
 * Only what the harness needs is typed; everything else is carried through untouched.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { HarnessConfigError } from './errors.js';

import { printActionSdl, printCustomTypeSdl } from '../hasura/sdl.js';
import { CUSTOM_TYPE_KINDS, type ActionArgument, type AnyCustomType, type CustomTypeKind, type HeaderConf, type QualifiedTable } from '../hasura/types.js';

export type { HeaderConf, QualifiedTable };

export interface OperationSpecMeta {
  columns: '*' | string[];
  payload?: '*' | string[];
}

export interface EventTriggerMeta {
  name: string;
  definition: {
    enable_manual?: boolean;
    insert?: OperationSpecMeta;
    update?: OperationSpecMeta;
    delete?: OperationSpecMeta;
  };
  retry_conf?: { num_retries?: number; interval_sec?: number; timeout_sec?: number };
  webhook?: string;
  webhook_from_env?: string;
  headers?: HeaderConf[];
  request_transform?: unknown;
  response_transform?: unknown;
  trigger_on_replication?: boolean;
}

export interface RelationshipMeta {
  name: string;
  using: {
    foreign_key_constraint_on?: string | string[] | { table: QualifiedTable | string; column?: string; columns?: string[] };
    manual_configuration?: { remote_table: QualifiedTable | string; column_mapping: Record<string, string> };
  };
}

export interface PermissionEntry<P> {
  role: string;
  permission: P;
}

export interface SelectPermissionMeta {
  columns: '*' | string[];
  filter?: Record<string, unknown>;
  limit?: number;
  allow_aggregations?: boolean;
}

export interface InsertPermissionMeta {
  check?: Record<string, unknown>;
  columns?: '*' | string[];
  set?: Record<string, unknown>;
  backend_only?: boolean;
}

export interface TableMeta {
  table: QualifiedTable;
  object_relationships?: RelationshipMeta[];
  array_relationships?: RelationshipMeta[];
  select_permissions?: PermissionEntry<SelectPermissionMeta>[];
  insert_permissions?: PermissionEntry<InsertPermissionMeta>[];
  update_permissions?: PermissionEntry<Record<string, unknown>>[];
  delete_permissions?: PermissionEntry<Record<string, unknown>>[];
  event_triggers?: EventTriggerMeta[];
  [k: string]: unknown;
}

export interface SourceMeta {
  name: string;
  kind: string;
  tables: TableMeta[];
  [k: string]: unknown;
}

export interface ActionMeta {
  name: string;
  definition: {
    handler: string;
    kind?: 'synchronous' | 'asynchronous';
    type?: 'query' | 'mutation';
    headers?: HeaderConf[];
    forward_client_headers?: boolean;
    timeout?: number;
    request_transform?: unknown;
    response_transform?: unknown;
  };
  permissions?: { role: string }[];
  comment?: string;
}

export interface CronMeta {
  name: string;
  webhook: string;
  schedule: string;
  payload?: unknown;
  headers?: HeaderConf[];
  retry_conf?: {
    num_retries?: number;
    retry_interval_seconds?: number;
    timeout_seconds?: number;
    tolerance_seconds?: number;
  };
  comment?: string | null;
  include_in_metadata?: boolean;
  request_transform?: unknown;
}

export interface InheritedRoleMeta {
  role_name: string;
  role_set: string[];
}

export interface HasuraMetadata {
  version: 3;
  sources: SourceMeta[];
  actions: ActionMeta[];
  /** The raw text of `actions.graphql` (empty when the project has no actions). */
  actionsSdl: string;
  customTypes: Record<string, unknown>;
  cronTriggers: CronMeta[];
  inheritedRoles: InheritedRoleMeta[];
}

const INCLUDE = /^!include\s+(.+)$/;

function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HarnessConfigError(`cannot read metadata file ${path}: ${(e as Error).message}`);
  }
  try {
    return parseYaml(text) ?? null;
  } catch (e) {
    throw new HarnessConfigError(`invalid YAML in ${path}: ${(e as Error).message}`);
  }
}

/** Replaces every `"!include x"` string (at any depth) with the parsed content of x, relative to `baseDir`. */
export function resolveIncludes(value: unknown, baseDir: string, seen: ReadonlySet<string> = new Set()): unknown {
  if (typeof value === 'string') {
    const m = INCLUDE.exec(value.trim());
    if (!m) return value;
    const path = resolve(baseDir, m[1]!.trim());
    if (seen.has(path)) throw new HarnessConfigError(`!include cycle through ${path}`);
    const next = new Set(seen).add(path);
    return resolveIncludes(readYamlFile(path), dirname(path), next);
  }
  if (Array.isArray(value)) return value.map((v) => resolveIncludes(v, baseDir, seen));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIncludes(v, baseDir, seen)]));
  }
  return value;
}

function optionalYaml(dir: string, file: string): unknown {
  const path = join(dir, file);
  if (!existsSync(path)) return null;
  return resolveIncludes(readYamlFile(path), dirname(path));
}

function asList<T>(v: unknown, what: string): T[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new HarnessConfigError(`${what} must be a list`);
  return v as T[];
}

export function qualify(t: QualifiedTable | string): QualifiedTable {
  return typeof t === 'string' ? { schema: 'public', name: t } : { schema: t.schema ?? 'public', name: t.name };
}

/** Loads `metadataDir` (a Hasura CLI v3 `metadata/` folder). */
export function readMetadataDir(metadataDir: string): HasuraMetadata {
  const dir = resolve(metadataDir);
  const version = optionalYaml(dir, 'version.yaml') as { version?: number } | null;
  if (!version || version.version !== 3) {
    throw new HarnessConfigError(`${dir} is not a Hasura v3 metadata directory (version.yaml must say "version: 3")`);
  }
  const sources = asList<SourceMeta>(optionalYaml(dir, 'databases/databases.yaml'), 'databases/databases.yaml').map((s) => ({
    ...s,
    tables: asList<TableMeta>(s.tables, `tables of source ${s.name}`).map((t) => ({ ...t, table: qualify(t.table) })),
  }));
  const actionsYaml = (optionalYaml(dir, 'actions.yaml') ?? {}) as { actions?: unknown; custom_types?: Record<string, unknown> };
  const sdlPath = join(dir, 'actions.graphql');
  return {
    version: 3,
    sources,
    actions: asList<ActionMeta>(actionsYaml.actions, 'actions.yaml actions'),
    actionsSdl: existsSync(sdlPath) ? readFileSync(sdlPath, 'utf8') : '',
    customTypes: actionsYaml.custom_types ?? {},
    cronTriggers: asList<CronMeta>(optionalYaml(dir, 'cron_triggers.yaml'), 'cron_triggers.yaml'),
    inheritedRoles: asList<InheritedRoleMeta>(optionalYaml(dir, 'inherited_roles.yaml'), 'inherited_roles.yaml'),
  };
}

/* ------------------------------------------------------------------ env templates */

const TEMPLATE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Resolves `{{ENV}}` templates the way Hasura does for handler and webhook URLs: a missing variable makes the
 * object inconsistent, so we refuse rather than POST to a half-resolved URL.
 */
export function resolveTemplate(text: string, env: Readonly<Record<string, string | undefined>>, what: string): string {
  return text.replace(TEMPLATE, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new HarnessConfigError(`${what}: environment variable '${name}' not set`);
    return v;
  });
}

/** Resolves `{name, value | value_from_env}` headers against `env`. */
export function resolveHeaders(headers: HeaderConf[] | undefined, env: Readonly<Record<string, string | undefined>>, what: string): [string, string][] {
  return (headers ?? []).map((h) => {
    if (h.value_from_env !== undefined) {
      const v = env[h.value_from_env];
      if (v === undefined) throw new HarnessConfigError(`${what}: header ${h.name}: environment variable '${h.value_from_env}' not set`);
      return [h.name, v];
    }
    if (h.value === undefined) throw new HarnessConfigError(`${what}: header ${h.name} has neither value nor value_from_env`);
    return [h.name, h.value];
  });
}

/* ------------------------------------------------------------------ the JSON form */

/**
 * Hasura metadata in its JSON form (`export_metadata`, or a project read with `src/hasura/project.ts`) as the
 * harness reads it: action arguments and output types become the `actions.graphql` text the CLI would write.
 */
export function metadataFromJson(json: {
  sources?: unknown;
  actions?: unknown;
  custom_types?: unknown;
  cron_triggers?: unknown;
  inherited_roles?: unknown;
  [key: string]: unknown;
}): HasuraMetadata {
  const sources = asList<SourceMeta>(json.sources, 'sources').map((s) => ({
    ...s,
    tables: asList<TableMeta>(s.tables, `tables of source ${s.name}`).map((t) => ({ ...t, table: qualify(t.table) })),
  }));
  const actions = asList<ActionMeta & { definition: { arguments?: ActionArgument[]; output_type?: string; type?: 'query' | 'mutation' } }>(json.actions, 'actions');
  const customTypes = (json.custom_types ?? {}) as Partial<Record<CustomTypeKind, AnyCustomType[]>>;
  const sdl: string[] = [];
  for (const kind of CUSTOM_TYPE_KINDS) for (const t of customTypes[kind] ?? []) sdl.push(printCustomTypeSdl(kind, t));
  for (const a of actions) {
    sdl.push(
      printActionSdl({ name: a.name, type: a.definition.type ?? 'mutation', arguments: a.definition.arguments ?? [], output_type: a.definition.output_type ?? 'Boolean' }),
    );
  }
  return {
    version: 3,
    sources,
    actions: actions.map((a) => {
      const { arguments: _a, output_type: _o, ...definition } = a.definition;
      return { ...a, definition: { ...definition, type: a.definition.type ?? 'mutation' } };
    }),
    actionsSdl: sdl.join('\n\n'),
    customTypes: customTypes as Record<string, unknown>,
    cronTriggers: asList<CronMeta>(json.cron_triggers, 'cron_triggers'),
    inheritedRoles: asList<InheritedRoleMeta>(json.inherited_roles, 'inherited_roles'),
  };
}
