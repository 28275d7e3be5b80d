/**
 * The tracked tables as the GraphQL engine sees them: columns with their PostgreSQL and GraphQL types, keys,
 * unique constraints, relationships, Hasura's names (custom_name, custom_root_fields, column_config) and the
 * permissions per role. Read once from the metadata and the database catalog.
 */
import type pg from 'pg';
import { HarnessConfigError, HarnessUnsupportedError } from '../testing/errors.js';
import { qualify, type PermissionEntry, type QualifiedTable, type SourceMeta, type TableMeta } from '../testing/metadata.js';
import { resolveRelationship, type ForeignKey } from '../testing/permissions.js';

export interface Column {
  name: string;
  /** GraphQL field name (column_config custom_name, else the column name). */
  field: string;
  /** `pg_type.typname` (`int4`, `_text` for arrays). */
  pgType: string;
  /** `format_type(...)`, used to cast parameters (`character varying(20)`, `text[]`). */
  sqlType: string;
  /** GraphQL scalar (`Int`, `String`, `uuid`, …); arrays are `[T]` of it. */
  scalar: string;
  isArray: boolean;
  notNull: boolean;
  hasDefault: boolean;
  /** Identity ALWAYS / generated columns cannot be written. */
  generated: boolean;
}

export interface Relationship {
  name: string;
  kind: 'object' | 'array';
  target: TableModel;
  /** [local column, remote column] pairs. */
  mapping: [string, string][];
}

export interface UniqueConstraint {
  name: string;
  columns: string[];
}

export interface SelectPerm {
  columns: string[];
  filter: Record<string, unknown>;
  limit?: number;
  allowAggregations: boolean;
}

export interface InsertPerm {
  columns: string[];
  check: Record<string, unknown>;
  set: Record<string, unknown>;
  backendOnly: boolean;
}

export interface UpdatePerm {
  columns: string[];
  filter: Record<string, unknown>;
  check: Record<string, unknown> | null;
  set: Record<string, unknown>;
  backendOnly: boolean;
}

export interface DeletePerm {
  filter: Record<string, unknown>;
  backendOnly: boolean;
}

export interface RootNames {
  select: string;
  select_by_pk: string;
  select_aggregate: string;
  select_stream: string;
  insert: string;
  insert_one: string;
  update: string;
  update_by_pk: string;
  update_many: string;
  delete: string;
  delete_by_pk: string;
}

export interface TableModel {
  table: QualifiedTable;
  meta: TableMeta;
  /** GraphQL type name. */
  typeName: string;
  columns: Column[];
  byName: Map<string, Column>;
  byField: Map<string, Column>;
  primaryKey: string[];
  constraints: UniqueConstraint[];
  relationships: Map<string, Relationship>;
  roots: RootNames;
  select: Map<string, SelectPerm>;
  insert: Map<string, InsertPerm>;
  update: Map<string, UpdatePerm>;
  delete: Map<string, DeletePerm>;
}

/** Hasura's GraphQL scalar for a PostgreSQL type; types it does not know become scalars named after the type. */
const SCALARS: Record<string, string> = {
  int2: 'smallint',
  int4: 'Int',
  int8: 'bigint',
  float4: 'Float',
  float8: 'float8',
  numeric: 'numeric',
  bool: 'Boolean',
  text: 'String',
  varchar: 'String',
  bpchar: 'bpchar',
  name: 'name',
  citext: 'citext',
  uuid: 'uuid',
  json: 'json',
  jsonb: 'jsonb',
  date: 'date',
  time: 'time',
  timetz: 'timetz',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  interval: 'interval',
  inet: 'inet',
  bytea: 'bytea',
  oid: 'oid',
};

export const NUMERIC_SCALARS = new Set(['smallint', 'Int', 'bigint', 'Float', 'float8', 'numeric']);
/** Types with an order: min/max aggregates, and `_gt`/`_lt` comparisons make sense. */
export const ORDERED_SCALARS = new Set([...NUMERIC_SCALARS, 'String', 'bpchar', 'citext', 'name', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'uuid']);
export const TEXT_SCALARS = new Set(['String', 'bpchar', 'citext', 'name']);

function scalarOf(typname: string): string {
  return SCALARS[typname] ?? typname.replace(/[^A-Za-z0-9_]/g, '_');
}

const isGraphQLName = (s: string) => /^[_A-Za-z][_0-9A-Za-z]*$/.test(s);

/** `custom_root_fields` values are a name or `{name, comment}`. */
function rootName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string') return (v as { name: string }).name;
  return undefined;
}

function permissionMap<P, T>(entries: PermissionEntry<P>[] | undefined, fn: (p: P) => T): Map<string, T> {
  return new Map((entries ?? []).map((e) => [e.role, fn(e.permission)]));
}

function columnList(v: unknown, all: string[]): string[] {
  if (v === '*' || v === undefined) return all;
  if (!Array.isArray(v)) throw new HarnessConfigError(`permission columns must be "*" or a list, got ${JSON.stringify(v)}`);
  return v as string[];
}

interface CatalogColumn {
  schema: string;
  table: string;
  name: string;
  typname: string;
  sqltype: string;
  elemtype: string | null;
  notnull: boolean;
  hasdefault: boolean;
  generated: boolean;
}

interface CatalogConstraint {
  schema: string;
  table: string;
  name: string;
  type: 'p' | 'u';
  columns: string[];
}

/** Reads the tables of `source` from the database and builds their models (every problem reported at once). */
export async function loadModel(pool: pg.Pool, source: SourceMeta | undefined): Promise<Map<string, TableModel>> {
  const metas = source?.tables ?? [];
  const keys = metas.map((m) => `${m.table.schema}.${m.table.name}`);
  const cols = await pool.query<CatalogColumn>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, t.typname, format_type(a.atttypid, a.atttypmod) AS sqltype,
            et.typname AS elemtype, a.attnotnull AS notnull, a.atthasdef OR a.attidentity = 'd' OR a.attidentity = 'a' AS hasdefault,
            a.attidentity = 'a' OR a.attgenerated <> '' AS generated
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
        AND (n.nspname || '.' || c.relname) = ANY($1)
      ORDER BY n.nspname, c.relname, a.attnum`,
    [keys],
  );
  const cons = await pool.query<CatalogConstraint>(
    `SELECT n.nspname AS schema, c.relname AS table, k.conname AS name, k.contype AS type,
            ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY x(n, i) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.n ORDER BY x.i)::text[] AS columns
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype IN ('p', 'u') AND (n.nspname || '.' || c.relname) = ANY($1)
      ORDER BY k.conname`,
    [keys],
  );
  const fks = await pool.query<{ ss: string; st: string; sc: string[]; ts: string; tt: string; tc: string[] }>(
    `SELECT sn.nspname AS ss, sc.relname AS st, tn.nspname AS ts, tc.relname AS tt,
            ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS sc,
            ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS tc
       FROM pg_constraint c
       JOIN pg_class sc ON sc.oid = c.conrelid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
       JOIN pg_class tc ON tc.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
      WHERE c.contype = 'f'`,
  );
  const foreignKeys: ForeignKey[] = fks.rows.map((r) => ({ src: { schema: r.ss, name: r.st }, srcCols: r.sc, tgt: { schema: r.ts, name: r.tt }, tgtCols: r.tc }));

  const problems: string[] = [];
  const models = new Map<string, TableModel>();
  for (const meta of metas) {
    const k = `${meta.table.schema}.${meta.table.name}`;
    const config = (meta.configuration ?? {}) as { custom_name?: string; custom_root_fields?: Record<string, unknown>; column_config?: Record<string, { custom_name?: string }>; custom_column_names?: Record<string, string> };
    const rows = cols.rows.filter((c) => c.schema === meta.table.schema && c.table === meta.table.name);
    if (rows.length === 0) {
      problems.push(`tracked table ${k} does not exist in the database`);
      continue;
    }
    const columns: Column[] = rows.map((c) => {
      const custom = config.column_config?.[c.name]?.custom_name ?? config.custom_column_names?.[c.name];
      const isArray = c.elemtype !== null;
      return {
        name: c.name,
        field: custom ?? c.name,
        pgType: c.typname,
        sqlType: c.sqltype,
        scalar: scalarOf(isArray ? c.elemtype! : c.typname),
        isArray,
        notNull: c.notnull,
        hasDefault: c.hasdefault,
        generated: c.generated,
      };
    });
    for (const c of columns) if (!isGraphQLName(c.field)) problems.push(`table ${k}: column "${c.name}" is not a valid GraphQL name; give it a custom_name in column_config`);
    const typeName = config.custom_name ?? (meta.table.schema === 'public' ? meta.table.name : `${meta.table.schema}_${meta.table.name}`);
    if (!isGraphQLName(typeName)) problems.push(`table ${k}: "${typeName}" is not a valid GraphQL name; set configuration.custom_name`);
    const crf = config.custom_root_fields ?? {};
    const name = (key: keyof RootNames, fallback: string) => rootName(crf[key]) ?? fallback;
    const roots: RootNames = {
      select: name('select', typeName),
      select_by_pk: name('select_by_pk', `${typeName}_by_pk`),
      select_aggregate: name('select_aggregate', `${typeName}_aggregate`),
      select_stream: name('select_stream', `${typeName}_stream`),
      insert: name('insert', `insert_${typeName}`),
      insert_one: name('insert_one', `insert_${typeName}_one`),
      update: name('update', `update_${typeName}`),
      update_by_pk: name('update_by_pk', `update_${typeName}_by_pk`),
      update_many: name('update_many', `update_${typeName}_many`),
      delete: name('delete', `delete_${typeName}`),
      delete_by_pk: name('delete_by_pk', `delete_${typeName}_by_pk`),
    };
    const tcons = cons.rows.filter((c) => c.schema === meta.table.schema && c.table === meta.table.name);
    const all = columns.map((c) => c.name);
    try {
      models.set(k, {
        table: meta.table,
        meta,
        typeName,
        columns,
        byName: new Map(columns.map((c) => [c.name, c])),
        byField: new Map(columns.map((c) => [c.field, c])),
        primaryKey: tcons.find((c) => c.type === 'p')?.columns ?? [],
        constraints: tcons.map((c) => ({ name: c.name, columns: c.columns })),
        relationships: new Map(),
        roots,
        select: permissionMap(meta.select_permissions, (p) => ({
          columns: columnList(p.columns, all),
          filter: p.filter ?? {},
          ...(p.limit !== undefined ? { limit: Number(p.limit) } : {}),
          allowAggregations: p.allow_aggregations === true,
        })),
        insert: permissionMap(meta.insert_permissions, (p) => ({ columns: columnList(p.columns, all), check: p.check ?? {}, set: p.set ?? {}, backendOnly: p.backend_only === true })),
        update: permissionMap(meta.update_permissions as PermissionEntry<Record<string, unknown>>[] | undefined, (p) => ({
          columns: columnList(p.columns, all),
          filter: (p.filter as Record<string, unknown>) ?? {},
          check: (p.check as Record<string, unknown> | undefined) ?? null,
          set: (p.set as Record<string, unknown>) ?? {},
          backendOnly: p.backend_only === true,
        })),
        delete: permissionMap(meta.delete_permissions as PermissionEntry<Record<string, unknown>>[] | undefined, (p) => ({ filter: (p.filter as Record<string, unknown>) ?? {}, backendOnly: p.backend_only === true })),
      });
    } catch (e) {
      problems.push(`table ${k}: ${(e as Error).message}`);
    }
  }
  for (const m of models.values()) {
    for (const [kind, list] of [
      ['object', m.meta.object_relationships],
      ['array', m.meta.array_relationships],
    ] as const) {
      for (const r of list ?? []) {
        try {
          const rel = resolveRelationship(m.table, r, kind, foreignKeys);
          const target = models.get(`${rel.target.schema}.${rel.target.name}`);
          if (!target) throw new HarnessConfigError(`${kind} relationship ${r.name} on ${m.table.schema}.${m.table.name}: table ${rel.target.schema}.${rel.target.name} is not tracked`);
          m.relationships.set(r.name, { name: r.name, kind, target, mapping: rel.mapping });
        } catch (e) {
          problems.push(e instanceof HarnessConfigError || e instanceof HarnessUnsupportedError ? e.message : String(e));
        }
      }
    }
  }
  if (problems.length) throw new HarnessConfigError(`inconsistent metadata:\n  ${problems.join('\n  ')}`);
  return models;
}

export function tableKey(t: QualifiedTable | string): string {
  const q = qualify(t);
  return `${q.schema}.${q.name}`;
}

export interface FunctionArgument {
  name: string;
  sqlType: string;
  scalar: string;
  hasDefault: boolean;
}

/** A tracked SQL function returning rows of a tracked table (`sources[].functions`). */
export interface FunctionModel {
  schema: string;
  name: string;
  /** Root field names. */
  field: string;
  aggregateField: string;
  table: TableModel;
  args: FunctionArgument[];
  sessionArgument?: string;
  exposedAs: 'query' | 'mutation';
  /** Roles listed in `permissions`; undefined: inferred from the select permission of the returned table. */
  roles?: Set<string>;
}

interface FunctionMeta {
  function: QualifiedTable | string;
  configuration?: { custom_name?: string; custom_root_fields?: { function?: string; function_aggregate?: string }; session_argument?: string; exposed_as?: 'query' | 'mutation' };
  permissions?: { role: string }[];
}

/** Reads the tracked functions of `source`: each must return SETOF (or one row of) a tracked table. */
export async function loadFunctions(pool: pg.Pool, source: SourceMeta | undefined, tables: ReadonlyMap<string, TableModel>): Promise<FunctionModel[]> {
  const metas = ((source as { functions?: FunctionMeta[] } | undefined)?.functions ?? []) as FunctionMeta[];
  const out: FunctionModel[] = [];
  const problems: string[] = [];
  for (const m of metas) {
    const f = qualify(m.function);
    const r = await pool.query<{ argnames: string[] | null; argtypes: string[]; scalars: string[]; ndefaults: number; retschema: string | null; rettable: string | null; retset: boolean; count: string }>(
      `SELECT p.proargnames AS argnames, p.pronargdefaults AS ndefaults, p.proretset AS retset,
              ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY x(t, i) ORDER BY i) AS argtypes,
              ARRAY(SELECT ty.typname::text FROM unnest(p.proargtypes) WITH ORDINALITY x(t, i) JOIN pg_type ty ON ty.oid = x.t ORDER BY i) AS scalars,
              rn.nspname AS retschema, rc.relname AS rettable, count(*) OVER () AS count
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         JOIN pg_type rt ON rt.oid = p.prorettype LEFT JOIN pg_class rc ON rc.oid = rt.typrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
        WHERE n.nspname = $1 AND p.proname = $2`,
      [f.schema, f.name],
    );
    const what = `tracked function ${f.schema}.${f.name}`;
    const row = r.rows[0];
    if (!row) {
      problems.push(`${what} does not exist in the database`);
      continue;
    }
    if (Number(row.count) > 1) {
      problems.push(`${what} is overloaded; Hasura tracks functions without overloads`);
      continue;
    }
    const table = row.rettable ? tables.get(`${row.retschema}.${row.rettable}`) : undefined;
    if (!table) {
      problems.push(`${what} must return rows of a tracked table`);
      continue;
    }
    const names = row.argnames ?? [];
    if (names.length < row.argtypes.length || names.some((n) => !n)) {
      problems.push(`${what}: every argument needs a name`);
      continue;
    }
    const firstDefault = row.argtypes.length - row.ndefaults;
    const config = m.configuration ?? {};
    const field = config.custom_root_fields?.function ?? config.custom_name ?? (f.schema === 'public' ? f.name : `${f.schema}_${f.name}`);
    out.push({
      schema: f.schema,
      name: f.name,
      field,
      aggregateField: config.custom_root_fields?.function_aggregate ?? `${field}_aggregate`,
      table,
      args: row.argtypes.map((sqlType, i) => ({ name: names[i]!, sqlType, scalar: scalarOf(row.scalars[i]!), hasDefault: i >= firstDefault })),
      ...(config.session_argument ? { sessionArgument: config.session_argument } : {}),
      exposedAs: config.exposed_as ?? 'query',
      ...(m.permissions ? { roles: new Set(m.permissions.map((p) => p.role)) } : {}),
    });
  }
  if (problems.length) throw new HarnessConfigError(`inconsistent metadata:\n  ${problems.join('\n  ')}`);
  return out;
}
