/**
 * Merging plugin fragments into a project's metadata and taking them out again — one planner for both the
 * metadata files (`install`/`remove`/`compose`) and the Metadata API (`apply`).
 *
 * The planner works on Hasura's JSON form and returns operations; `applyOps` performs them on JSON, the
 * project editor performs them as text edits on the files. Identity keys follow Hasura's namespaces:
 * tables by (source, schema, name), event triggers by name per source, actions/crons by name, custom types by
 * name across all four kinds.
 *
 * Ownership: actions and crons carry the `nself-plugins:<plugin>@<version>` marker in their `comment`;
 * a plugin owns every table in its own schema (the plugin's name is its PostgreSQL schema) and the custom
 * types its actions use. Anything else with the same identity is the user's, and installing over it stops.
 */
import { namedType } from './sdl.js';
import { parseMarker } from './fragment.js';
import { stableJson } from './yaml-io.js';
import type {
  ActionJson,
  AnyCustomType,
  CronTriggerJson,
  CustomTypeKind,
  EventTriggerJson,
  Fragment,
  FunctionEntry,
  HasuraMetadata,
  RemoteSchemaJson,
  TableEntry,
} from './types.js';
import { CUSTOM_TYPE_KINDS } from './types.js';

/** A database entry without its tables. */
export interface SourceConfig {
  name: string;
  kind: string;
  configuration: Record<string, unknown>;
}

export type Op =
  | { op: 'add_source'; source: SourceConfig }
  | { op: 'drop_source'; name: string }
  | { op: 'add_table'; source: string; table: TableEntry; plugin: string }
  | { op: 'drop_table'; source: string; table: { schema: string; name: string } }
  | { op: 'add_action'; action: ActionJson }
  | { op: 'drop_action'; name: string }
  | { op: 'add_custom_type'; kind: CustomTypeKind; type: AnyCustomType }
  | { op: 'drop_custom_type'; kind: CustomTypeKind; name: string }
  | { op: 'add_cron'; cron: CronTriggerJson }
  | { op: 'drop_cron'; name: string }
  | { op: 'add_function'; source: string; function: FunctionEntry }
  | { op: 'drop_function'; source: string; function: { schema: string; name: string } }
  | { op: 'add_remote_schema'; remoteSchema: RemoteSchemaJson }
  | { op: 'drop_remote_schema'; name: string }
  /** A plugin's trigger on a table of the user's (project triggers); the table is tracked already. */
  | { op: 'add_event_trigger'; source: string; table: { schema: string; name: string }; trigger: EventTriggerJson }
  | { op: 'drop_event_trigger'; source: string; table: { schema: string; name: string }; name: string };

export class MergeConflictError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? problems[0]!
        : `the project already has objects with the names a plugin needs:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'MergeConflictError';
  }
}

export class DuplicateObjectError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `duplicate metadata objects:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DuplicateObjectError';
  }
}

/** Default configuration of a source the installer creates (the nself stack's Hasura reads this variable). */
export function defaultSource(name: string): SourceConfig {
  return {
    name,
    kind: 'postgres',
    configuration: {
      connection_info: {
        database_url: { from_env: 'HASURA_GRAPHQL_DATABASE_URL' },
        isolation_level: 'read-committed',
        use_prepared_statements: false,
      },
    },
  };
}

/* ------------------------------------------------------------------ reading the JSON form */

function tableKey(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}

export function allCustomTypes(md: HasuraMetadata): Array<{ kind: CustomTypeKind; type: AnyCustomType }> {
  const out: Array<{ kind: CustomTypeKind; type: AnyCustomType }> = [];
  for (const kind of CUSTOM_TYPE_KINDS) for (const t of (md.custom_types?.[kind] ?? []) as AnyCustomType[]) out.push({ kind, type: t });
  return out;
}

/** Duplicate identities in a metadata object (a file edited by hand, a bad export). */
export function findDuplicates(md: HasuraMetadata): string[] {
  const problems: string[] = [];
  const dup = (what: string, names: string[]) => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) problems.push(`${what} ${n} is defined more than once`);
      seen.add(n);
    }
  };
  dup('source', md.sources.map((s) => s.name));
  for (const s of md.sources) {
    dup(`table in source ${s.name}:`, (s.tables ?? []).map((t) => tableKey(t.table)));
    dup(`event trigger in source ${s.name}:`, (s.tables ?? []).flatMap((t) => (t.event_triggers ?? []).map((e) => e.name)));
    dup(`function in source ${s.name}:`, (s.functions ?? []).map((f) => tableKey(f.function)));
    for (const t of s.tables ?? []) {
      dup(`relationship of ${tableKey(t.table)}:`, [...(t.object_relationships ?? []), ...(t.array_relationships ?? [])].map((r) => r.name));
      for (const k of ['insert', 'select', 'update', 'delete'] as const) {
        dup(`${k} permission of ${tableKey(t.table)} for role`, (t[`${k}_permissions`] ?? []).map((p) => p.role));
      }
    }
  }
  dup('action', (md.actions ?? []).map((a) => a.name));
  dup('custom type', allCustomTypes(md).map((t) => t.type.name));
  dup('cron trigger', (md.cron_triggers ?? []).map((c) => c.name));
  dup('remote schema', (md.remote_schemas ?? []).map((r) => r.name));
  return problems;
}

export interface Owned {
  plugin: string;
  /** Version from the markers, when the plugin has marked objects. */
  version?: string;
  tables: TableEntry[];
  actions: ActionJson[];
  types: Array<{ kind: CustomTypeKind; type: AnyCustomType }>;
  crons: CronTriggerJson[];
  functions: FunctionEntry[];
  remoteSchemas: RemoteSchemaJson[];
}

function typeIndex(md: HasuraMetadata): Map<string, { kind: CustomTypeKind; type: AnyCustomType }> {
  return new Map(allCustomTypes(md).map((t) => [t.type.name, t]));
}

/** Custom types reachable from `roots` (type strings) through object/input fields. */
function reachableTypes(md: HasuraMetadata, roots: Iterable<string>): Set<string> {
  const index = typeIndex(md);
  const seen = new Set<string>();
  const stack = [...roots].map(namedType);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    const t = index.get(n);
    if (!t) continue;
    seen.add(n);
    if (t.kind === 'objects' || t.kind === 'input_objects') for (const f of (t.type as { fields: Array<{ type: string }> }).fields ?? []) stack.push(namedType(f.type));
  }
  return seen;
}

function actionTypeRoots(actions: readonly ActionJson[]): string[] {
  return actions.flatMap((a) => [a.definition.output_type ?? '', ...(a.definition.arguments ?? []).map((x) => x.type)]);
}

/**
 * What `plugin` owns in `md`. `tablesWithoutMarkers`: treat the tables in the plugin's schema as its own even
 * when no marked action or cron shows it is installed (a plugin made only of tables has nothing to mark).
 */
export function ownedBy(md: HasuraMetadata, plugin: string, sourceName: string, tablesWithoutMarkers: boolean): Owned {
  const actions = (md.actions ?? []).filter((a) => parseMarker(a.comment)?.plugin === plugin);
  const crons = (md.cron_triggers ?? []).filter((c) => parseMarker(c.comment)?.plugin === plugin);
  const remoteSchemas = (md.remote_schemas ?? []).filter((r) => parseMarker(r.comment)?.plugin === plugin);
  const version = parseMarker(actions[0]?.comment ?? crons[0]?.comment ?? remoteSchemas[0]?.comment)?.version;
  const marked = actions.length > 0 || crons.length > 0 || remoteSchemas.length > 0;
  const source = md.sources.find((s) => s.name === sourceName);
  const inSchema = marked || tablesWithoutMarkers;
  const tables = inSchema ? (source?.tables ?? []).filter((t) => t.table.schema === plugin) : [];
  const functions = inSchema ? (source?.functions ?? []).filter((f) => f.function.schema === plugin) : [];
  const mine = reachableTypes(md, actionTypeRoots(actions));
  const others = reachableTypes(md, actionTypeRoots((md.actions ?? []).filter((a) => parseMarker(a.comment)?.plugin !== plugin)));
  const types = allCustomTypes(md).filter((t) => mine.has(t.type.name) && !others.has(t.type.name));
  return { plugin, ...(version ? { version } : {}), tables, actions, types, crons, functions, remoteSchemas };
}

export function isInstalled(o: Owned): boolean {
  return o.tables.length + o.actions.length + o.crons.length + o.functions.length + o.remoteSchemas.length > 0;
}

/** Plugins that have marked objects in `md` (tables-only plugins are found by the caller's own records). */
export function markedPlugins(md: HasuraMetadata): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of [...(md.actions ?? []), ...(md.cron_triggers ?? []), ...(md.remote_schemas ?? [])].map((x) => x.comment)) {
    const m = parseMarker(c);
    if (m && !out.has(m.plugin)) out.set(m.plugin, m.version);
  }
  return out;
}

/* ------------------------------------------------------------------ applying operations to JSON */

function customTypesOf(md: HasuraMetadata): Required<NonNullable<HasuraMetadata['custom_types']>> {
  const ct = (md.custom_types ??= {});
  for (const k of CUSTOM_TYPE_KINDS) ct[k] ??= [];
  return ct as Required<NonNullable<HasuraMetadata['custom_types']>>;
}

export function applyOp(md: HasuraMetadata, op: Op): void {
  switch (op.op) {
    case 'add_source':
      md.sources.push({ ...structuredClone(op.source), tables: [] });
      return;
    case 'drop_source':
      md.sources = md.sources.filter((s) => s.name !== op.name);
      return;
    case 'add_table': {
      const s = md.sources.find((x) => x.name === op.source);
      if (!s) throw new Error(`source ${op.source} not found`);
      (s.tables ??= []).push(structuredClone(op.table));
      return;
    }
    case 'drop_table': {
      const s = md.sources.find((x) => x.name === op.source);
      if (s) s.tables = (s.tables ?? []).filter((t) => tableKey(t.table) !== tableKey(op.table));
      return;
    }
    case 'add_action':
      (md.actions ??= []).push(structuredClone(op.action));
      return;
    case 'drop_action':
      md.actions = (md.actions ?? []).filter((a) => a.name !== op.name);
      return;
    case 'add_custom_type':
      (customTypesOf(md)[op.kind] as AnyCustomType[]).push(structuredClone(op.type));
      return;
    case 'drop_custom_type': {
      const ct = customTypesOf(md);
      (ct[op.kind] as AnyCustomType[]) = (ct[op.kind] as AnyCustomType[]).filter((t) => t.name !== op.name);
      return;
    }
    case 'add_cron':
      (md.cron_triggers ??= []).push(structuredClone(op.cron));
      return;
    case 'drop_cron':
      md.cron_triggers = (md.cron_triggers ?? []).filter((c) => c.name !== op.name);
      return;
    case 'add_function': {
      const s = md.sources.find((x) => x.name === op.source);
      if (!s) throw new Error(`source ${op.source} not found`);
      (s.functions ??= []).push(structuredClone(op.function));
      return;
    }
    case 'drop_function': {
      const s = md.sources.find((x) => x.name === op.source);
      if (s?.functions) s.functions = s.functions.filter((f) => tableKey(f.function) !== tableKey(op.function));
      return;
    }
    case 'add_remote_schema':
      (md.remote_schemas ??= []).push(structuredClone(op.remoteSchema));
      return;
    case 'drop_remote_schema':
      md.remote_schemas = (md.remote_schemas ?? []).filter((r) => r.name !== op.name);
      return;
    case 'add_event_trigger': {
      const t = md.sources.find((x) => x.name === op.source)?.tables.find((x) => tableKey(x.table) === tableKey(op.table));
      if (!t) throw new Error(`table ${tableKey(op.table)} is not tracked in source ${op.source}`);
      (t.event_triggers ??= []).push(structuredClone(op.trigger));
      return;
    }
    case 'drop_event_trigger': {
      const t = md.sources.find((x) => x.name === op.source)?.tables.find((x) => tableKey(x.table) === tableKey(op.table));
      if (t?.event_triggers) {
        t.event_triggers = t.event_triggers.filter((e) => e.name !== op.name);
        if (t.event_triggers.length === 0) delete t.event_triggers;
      }
      return;
    }
  }
}

export function applyOps(md: HasuraMetadata, ops: readonly Op[]): HasuraMetadata {
  const out = structuredClone(md);
  for (const op of ops) applyOp(out, op);
  return out;
}

/* ------------------------------------------------------------------ planning */

export interface PlanOptions {
  /** The database (Hasura source) plugin tables go to. */
  source: string;
  /** Names of plugins the caller knows to be installed without markers (tables-only plugins). */
  installedTablesOnly?: ReadonlySet<string>;
  /** Where an object lives, for error messages (a file path). */
  locate?: (kind: 'table' | 'action' | 'type' | 'cron' | 'function' | 'remote schema', name: string) => string | undefined;
}

export interface PluginChange {
  plugin: string;
  status: 'added' | 'updated' | 'unchanged' | 'removed';
  from?: string;
  to?: string;
}

export interface Plan {
  ops: Op[];
  metadata: HasuraMetadata;
  changes: PluginChange[];
}

function hasMarkableObjects(f: Fragment): boolean {
  return f.actions.length > 0 || f.crons.length > 0 || f.remoteSchemas.length > 0;
}

function ownerLabel(comment: unknown): string {
  const m = parseMarker(comment);
  return m ? `plugin ${m.plugin}` : 'the project';
}

/**
 * Ops that bring `md` to "every fragment installed". A fragment already installed with identical objects
 * contributes nothing (installing twice is a no-op); a different version replaces exactly the objects that
 * changed. Conflicts with objects the plugin does not own are all reported at once, and nothing is planned.
 */
export function planInstall(md: HasuraMetadata, given: readonly Fragment[], opts: PlanOptions): Plan {
  const fragments = given.map((f) => relationshipsInSource(f, opts.source));
  const dups = findDuplicates(md);
  if (dups.length) throw new DuplicateObjectError(dups);
  let current = structuredClone(md);
  const ops: Op[] = [];
  const changes: PluginChange[] = [];
  const where = (kind: 'table' | 'action' | 'type' | 'cron' | 'function' | 'remote schema', name: string) => {
    const w = opts.locate?.(kind, name);
    return w ? ` (${w})` : '';
  };

  if (fragments.length && !current.sources.some((s) => s.name === opts.source)) {
    const op: Op = { op: 'add_source', source: defaultSource(opts.source) };
    ops.push(op);
    applyOp(current, op);
  }

  const problems: string[] = [];
  for (const f of fragments) {
    const tablesOnly = !hasMarkableObjects(f) || (opts.installedTablesOnly?.has(f.plugin) ?? false);
    const owned = ownedBy(current, f.plugin, opts.source, tablesOnly);
    const P = `plugin ${f.plugin}`;
    const source = current.sources.find((s) => s.name === opts.source)!;

    // Conflicts: same identity, not ours.
    const ownedTables = new Set(owned.tables.map((t) => tableKey(t.table)));
    const ownedActions = new Set(owned.actions.map((a) => a.name));
    const ownedCrons = new Set(owned.crons.map((c) => c.name));
    const reachableFromOwned = reachableTypes(current, actionTypeRoots(owned.actions));
    for (const t of f.tables) {
      const k = tableKey(t.table);
      if (!ownedTables.has(k) && source.tables.some((x) => tableKey(x.table) === k)) {
        problems.push(`${P}: table ${k} is already tracked by the project${where('table', k)}; it lives in the schema the plugin owns — untrack it first`);
      }
      for (const trig of t.event_triggers ?? []) {
        const holder = source.tables.find((x) => !ownedTables.has(tableKey(x.table)) && (x.event_triggers ?? []).some((e) => e.name === trig.name));
        if (holder) problems.push(`${P}: event trigger ${trig.name} already exists on table ${tableKey(holder.table)}${where('table', tableKey(holder.table))}`);
      }
    }
    for (const a of f.actions) {
      const existing = (current.actions ?? []).find((x) => x.name === a.name);
      if (existing && !ownedActions.has(a.name)) problems.push(`${P}: action ${a.name} already exists, defined by ${ownerLabel(existing.comment)}${where('action', a.name)}`);
    }
    const index = typeIndex(current);
    for (const kind of CUSTOM_TYPE_KINDS) {
      for (const t of f.customTypes[kind] as AnyCustomType[]) {
        if (index.has(t.name) && !reachableFromOwned.has(t.name)) problems.push(`${P}: custom type ${t.name} already exists in the project${where('type', t.name)}`);
      }
    }
    for (const c of f.crons) {
      const existing = (current.cron_triggers ?? []).find((x) => x.name === c.name);
      if (existing && !ownedCrons.has(c.name)) problems.push(`${P}: cron trigger ${c.name} already exists, defined by ${ownerLabel(existing.comment)}${where('cron', c.name)}`);
    }
    const ownedFunctions = new Set(owned.functions.map((x) => tableKey(x.function)));
    for (const fn of f.functions) {
      const k = tableKey(fn.function);
      if (!ownedFunctions.has(k) && (source.functions ?? []).some((x) => tableKey(x.function) === k)) {
        problems.push(`${P}: function ${k} is already tracked by the project${where('function', k)}; it lives in the schema the plugin owns — untrack it first`);
      }
    }
    const ownedRemote = new Set(owned.remoteSchemas.map((r) => r.name));
    for (const r of f.remoteSchemas) {
      const existing = (current.remote_schemas ?? []).find((x) => x.name === r.name);
      if (existing && !ownedRemote.has(r.name)) problems.push(`${P}: remote schema ${r.name} already exists, defined by ${ownerLabel(existing.comment)}${where('remote schema', r.name)}`);
    }
    if (problems.length) continue;

    // Diff owned ↔ wanted.
    const pluginOps: Op[] = [];
    const wantTables = new Map(f.tables.map((t) => [tableKey(t.table), stableJson(t)]));
    const wantActions = new Map(f.actions.map((a) => [a.name, stableJson(a)]));
    const wantCrons = new Map(f.crons.map((c) => [c.name, stableJson(c)]));
    const wantTypes = new Map<string, { kind: CustomTypeKind; json: string }>();
    for (const kind of CUSTOM_TYPE_KINDS) for (const t of f.customTypes[kind] as AnyCustomType[]) wantTypes.set(t.name, { kind, json: stableJson(t) });

    const keepActions = new Set<string>();
    for (const a of owned.actions) {
      if (wantActions.get(a.name) === stableJson(a)) keepActions.add(a.name);
      else pluginOps.push({ op: 'drop_action', name: a.name });
    }
    const keepTypes = new Set<string>();
    const ownedTypeNames = new Set([...owned.types.map((t) => t.type.name), ...reachableFromOwned]);
    for (const t of allCustomTypes(current).filter((x) => ownedTypeNames.has(x.type.name))) {
      const want = wantTypes.get(t.type.name);
      if (want && want.kind === t.kind && want.json === stableJson(t.type)) keepTypes.add(t.type.name);
      else if (owned.types.some((o) => o.type.name === t.type.name) || want) pluginOps.push({ op: 'drop_custom_type', kind: t.kind, name: t.type.name });
    }
    const keepTables = new Set<string>();
    for (const t of owned.tables) {
      const k = tableKey(t.table);
      if (wantTables.get(k) === stableJson(t)) keepTables.add(k);
      else pluginOps.push({ op: 'drop_table', source: opts.source, table: { ...t.table } });
    }
    const keepCrons = new Set<string>();
    for (const c of owned.crons) {
      if (wantCrons.get(c.name) === stableJson(c)) keepCrons.add(c.name);
      else pluginOps.push({ op: 'drop_cron', name: c.name });
    }
    const wantFunctions = new Map(f.functions.map((x) => [tableKey(x.function), stableJson(x)]));
    const keepFunctions = new Set<string>();
    for (const x of owned.functions) {
      const k = tableKey(x.function);
      if (wantFunctions.get(k) === stableJson(x)) keepFunctions.add(k);
      else pluginOps.push({ op: 'drop_function', source: opts.source, function: { ...x.function } });
    }
    const wantRemote = new Map(f.remoteSchemas.map((r) => [r.name, stableJson(r)]));
    const keepRemote = new Set<string>();
    for (const r of owned.remoteSchemas) {
      if (wantRemote.get(r.name) === stableJson(r)) keepRemote.add(r.name);
      else pluginOps.push({ op: 'drop_remote_schema', name: r.name });
    }
    for (const t of f.tables) if (!keepTables.has(tableKey(t.table))) pluginOps.push({ op: 'add_table', source: opts.source, table: t, plugin: f.plugin });
    for (const x of f.functions) if (!keepFunctions.has(tableKey(x.function))) pluginOps.push({ op: 'add_function', source: opts.source, function: x });
    for (const r of f.remoteSchemas) if (!keepRemote.has(r.name)) pluginOps.push({ op: 'add_remote_schema', remoteSchema: r });
    for (const a of f.actions) if (!keepActions.has(a.name)) pluginOps.push({ op: 'add_action', action: a });
    for (const kind of CUSTOM_TYPE_KINDS) {
      for (const t of f.customTypes[kind] as AnyCustomType[]) if (!keepTypes.has(t.name)) pluginOps.push({ op: 'add_custom_type', kind, type: t });
    }
    for (const c of f.crons) if (!keepCrons.has(c.name)) pluginOps.push({ op: 'add_cron', cron: c });
    // Types are appended after the actions that use them, as the CLI lays out actions.graphql.
    pluginOps.sort((a, b) => opRank(a) - opRank(b));

    const installed = isInstalled(owned);
    changes.push(
      pluginOps.length === 0
        ? { plugin: f.plugin, status: 'unchanged', to: f.version }
        : installed
          ? { plugin: f.plugin, status: 'updated', ...(owned.version ? { from: owned.version } : {}), to: f.version }
          : { plugin: f.plugin, status: 'added', to: f.version },
    );
    for (const op of pluginOps) applyOp(current, op);
    ops.push(...pluginOps);
  }
  if (problems.length) throw new MergeConflictError(problems);
  const after = findDuplicates(current);
  if (after.length) throw new DuplicateObjectError(after);
  return { ops, metadata: current, changes };
}

// Relationships and permissions point at tables (and functions return them): tables come after what
// refers to them when dropping and before it when adding.
/**
 * Action relationships name their table's database only when it is not `default` (Hasura's default), so a
 * project whose plugins live in another database still joins them there.
 */
function relationshipsInSource(f: Fragment, source: string): Fragment {
  if (source === 'default' || !f.customTypes.objects.some((o) => o.relationships?.length)) return f;
  return {
    ...f,
    customTypes: {
      ...f.customTypes,
      objects: f.customTypes.objects.map((o) => (o.relationships?.length ? { ...o, relationships: o.relationships.map((r) => ({ ...r, source })) } : o)),
    },
  };
}

const RANK: Record<Op['op'], number> = {
  drop_remote_schema: 0,
  drop_event_trigger: 0,
  drop_action: 1,
  drop_cron: 2,
  drop_custom_type: 3,
  drop_function: 4,
  drop_table: 5,
  drop_source: 6,
  add_source: 7,
  add_table: 8,
  add_function: 9,
  add_action: 10,
  add_custom_type: 11,
  add_cron: 12,
  add_remote_schema: 13,
  add_event_trigger: 14,
};
function opRank(op: Op): number {
  return RANK[op.op];
}

/** Paths inside `value` that name a table of schema `schema` (`{schema, name}` objects). */
function referencesSchema(value: unknown, schema: string): boolean {
  if (Array.isArray(value)) return value.some((v) => referencesSchema(v, schema));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.schema === schema && typeof o.name === 'string') return true;
    return Object.values(o).some((v) => referencesSchema(v, schema));
  }
  return false;
}

export class RemoveRefusedError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `cannot remove:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RemoveRefusedError';
  }
}

/**
 * Ops that delete exactly what `plugins` own. Refuses (and plans nothing) while the project's own metadata
 * still points at a plugin's tables, since Hasura would then reject the whole metadata as inconsistent.
 */
export function planRemove(md: HasuraMetadata, plugins: readonly string[], opts: PlanOptions): Plan {
  const dups = findDuplicates(md);
  if (dups.length) throw new DuplicateObjectError(dups);
  const current = structuredClone(md);
  const ops: Op[] = [];
  const changes: PluginChange[] = [];
  const problems: string[] = [];
  const removing = new Set(plugins);
  for (const plugin of plugins) {
    const owned = ownedBy(current, plugin, opts.source, opts.installedTablesOnly?.has(plugin) ?? !markedPlugins(current).has(plugin));
    if (!isInstalled(owned)) {
      changes.push({ plugin, status: 'unchanged' });
      continue;
    }
    const source = current.sources.find((s) => s.name === opts.source);
    for (const t of source?.tables ?? []) {
      if (t.table.schema === plugin || removing.has(t.table.schema)) continue;
      if (referencesSchema(t, plugin)) problems.push(`table ${tableKey(t.table)} refers to plugin ${plugin}'s tables (schema ${plugin}); remove that relationship or permission first`);
    }
    const ownedTypeNames = new Set(owned.types.map((t) => t.type.name));
    for (const { type } of allCustomTypes(current)) {
      if (ownedTypeNames.has(type.name)) continue;
      if (referencesSchema((type as { relationships?: unknown }).relationships, plugin)) {
        problems.push(`custom type ${type.name} has a relationship to plugin ${plugin}'s tables; remove it first`);
      }
    }
    const pluginOps: Op[] = [
      ...owned.remoteSchemas.map((r): Op => ({ op: 'drop_remote_schema', name: r.name })),
      ...owned.actions.map((a): Op => ({ op: 'drop_action', name: a.name })),
      ...owned.crons.map((c): Op => ({ op: 'drop_cron', name: c.name })),
      ...owned.types.map((t): Op => ({ op: 'drop_custom_type', kind: t.kind, name: t.type.name })),
      ...owned.functions.map((x): Op => ({ op: 'drop_function', source: opts.source, function: { ...x.function } })),
      ...owned.tables.map((t): Op => ({ op: 'drop_table', source: opts.source, table: { ...t.table } })),
    ];
    changes.push({ plugin, status: 'removed', ...(owned.version ? { from: owned.version } : {}) });
    for (const op of pluginOps) applyOp(current, op);
    ops.push(...pluginOps);
  }
  if (problems.length) throw new RemoveRefusedError(problems);
  return { ops, metadata: current, changes };
}

/** Compares two metadata objects regardless of key order. */
export function sameMetadata(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

