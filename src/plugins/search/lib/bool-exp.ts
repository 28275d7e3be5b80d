/**
 * Hasura boolean expressions (permission syntax) for the two engines: SQL through the shared compiler
 * (src/hasura/bool-exp.ts) with the index definitions as its schema, and an escaped Meilisearch filter string.
 * Session variables (`X-Hasura-User-Id`) are read from the caller's session in permission filters only; in a
 * caller's own filters every value is a literal.
 *
 * Columns are plain identifiers checked against a pattern (and, for caller filters, an allow-list); values are
 * always parameters (SQL) or quoted and escaped (Meilisearch), never concatenated.
 */
import type { Queryable } from '../../../core/plugin.js';
import { boolExpColumns, BoolExpError, compileBoolExp, type BoolExpSchema } from '../../../hasura/bool-exp.js';
import type { RelationshipDef } from './definitions.js';

export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const SESSION_VAR = /^x-hasura-[a-z0-9_-]+$/i;
const MAX_DEPTH = 16;
/** Longest `_in`/`_nin` list. */
const MAX_LIST = 1000;

type Scalar = string | number | boolean;

export interface TableScope {
  table: { schema: string; name: string };
  relationships?: Record<string, RelationshipDef>;
  /** Caller filters: only these columns (and no relationships). Absent: any column (permission filters). */
  allowedColumns?: ReadonlySet<string>;
}

export interface CompileOptions {
  /** The caller's session variables (lower-case keys); `null`: values are literals (caller filters). */
  session: Readonly<Record<string, string>> | null;
  /** Operators allowed (default: all the compiler knows). */
  operators?: ReadonlySet<string>;
  /** Meilisearch: a condition no document meets (it has no literal false), e.g. `id NOT EXISTS`. */
  none?: string;
}

const NONE = (opts: CompileOptions) => opts.none ?? 'id NOT EXISTS';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const q = (id: string) => `"${id}"`;

function scalar(v: unknown, where: string, opts: CompileOptions): Scalar {
  if (typeof v === 'string') {
    if (opts.session && SESSION_VAR.test(v)) {
      const value = opts.session[v.toLowerCase()];
      if (value === undefined) throw new FilterError(`${where}: session variable ${v} is missing`);
      return value;
    }
    return v;
  }
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return v;
  throw new FilterError(`${where}: expected a string, number or boolean`);
}

function column(scope: TableScope, name: string): string {
  if (!IDENT.test(name)) throw new FilterError(`"${name.slice(0, 64)}" is not a column name`);
  if (scope.allowedColumns && !scope.allowedColumns.has(name)) throw new FilterError(`column ${name} is not filterable (filterable: ${[...scope.allowedColumns].join(', ') || 'none'})`);
  return name;
}

/* ------------------------------------------------------------------ SQL */

export class SqlBuilder {
  constructor(readonly params: unknown[] = []) {}
  param(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }
}

/** The definitions as the shared compiler's schema: columns by name only (their types are not declared). */
const DEFINITION_SCHEMA: BoolExpSchema<TableScope> = {
  sql: (s) => `${q(s.table.schema)}.${q(s.table.name)}`,
  relationship: (s, name) => {
    const rel = s.allowedColumns ? undefined : s.relationships?.[name];
    if (!rel) return undefined;
    return { target: { table: rel.table, ...(rel.relationships ? { relationships: rel.relationships } : {}) }, mapping: Object.entries(rel.mapping) };
  },
  column: (s, name) => ({ name: column(s, name) }),
};

/** `exp` on `scope` (rows aliased `alias`) as a SQL condition; values become parameters of `b`. */
export function toSql(exp: unknown, scope: TableScope, alias: string, b: SqlBuilder, opts: CompileOptions): string {
  try {
    return compileBoolExp(exp, scope, alias, {
      schema: DEFINITION_SCHEMA,
      params: b.params,
      session: opts.session,
      ...(opts.operators ? { operators: opts.operators } : {}),
      maxDepth: MAX_DEPTH,
      maxListLength: MAX_LIST,
    });
  } catch (e) {
    if (e instanceof BoolExpError) throw new FilterError(e.message);
    throw e;
  }
}

/* ------------------------------------------------------------------ Meilisearch */

/** A Meilisearch filter string literal: double-quoted, backslashes and quotes escaped. */
export function meiliString(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function meiliValue(v: Scalar): string {
  return typeof v === 'string' ? meiliString(v) : String(v);
}

const MEILI_COMPARISON: Record<string, string> = { _eq: '=', _neq: '!=', _gt: '>', _gte: '>=', _lt: '<', _lte: '<=' };
/** Most related keys a relationship condition may expand to in a Meilisearch filter. */
export const MAX_RELATED_KEYS = 10_000;

/**
 * `exp` as a Meilisearch filter. Meilisearch documents are flat, so a relationship condition is resolved in
 * PostgreSQL first (the related keys the caller may see) and becomes `column IN [...]`.
 */
export async function toMeiliFilter(exp: unknown, scope: TableScope, db: Queryable, opts: CompileOptions, depth = 0): Promise<string> {
  if (depth > MAX_DEPTH) throw new FilterError(`boolean expression nested deeper than ${MAX_DEPTH} levels`);
  if (!isObj(exp)) throw new FilterError('a boolean expression must be an object');
  const parts: string[] = [];
  for (const [key, value] of Object.entries(exp)) {
    if (key === '_and' || key === '_or') {
      if (!Array.isArray(value)) throw new FilterError(`${key} takes a list`);
      const items = [];
      for (const v of value) items.push(await toMeiliFilter(v, scope, db, opts, depth + 1));
      // Meilisearch has no literal true/false: an empty _or matches nothing through an impossible condition.
      parts.push(items.length ? `(${items.join(key === '_and' ? ' AND ' : ' OR ')})` : key === '_and' ? '' : NONE(opts));
    } else if (key === '_not') {
      const inner = await toMeiliFilter(value, scope, db, opts, depth + 1);
      parts.push(inner ? `NOT (${inner})` : NONE(opts));
    } else if (scope.relationships?.[key] && !scope.allowedColumns) {
      const rel = scope.relationships[key]!;
      const mapping = Object.entries(rel.mapping);
      if (mapping.length !== 1) throw new FilterError(`relationship ${key}: a Meilisearch filter needs a single-column mapping`);
      const [mine, theirs] = mapping[0]!;
      const b = new SqlBuilder();
      const cond = toSql(value, { table: rel.table, ...(rel.relationships ? { relationships: rel.relationships } : {}) }, 'r0', b, opts);
      const rows = await db.query<{ k: string }>(
        `SELECT DISTINCT r0.${q(theirs)}::text AS k FROM ${q(rel.table.schema)}.${q(rel.table.name)} r0 WHERE ${cond} AND r0.${q(theirs)} IS NOT NULL LIMIT ${MAX_RELATED_KEYS + 1}`,
        b.params,
      );
      if (rows.rows.length > MAX_RELATED_KEYS) throw new FilterError(`relationship ${key}: more than ${MAX_RELATED_KEYS} related keys`);
      parts.push(rows.rows.length ? `${column(scope, mine)} IN [${rows.rows.map((r) => meiliString(r.k)).join(', ')}]` : NONE(opts));
    } else {
      const col = column(scope, key);
      if (!isObj(value)) throw new FilterError(`${key}: expected an object of operators like {"_eq": …}`);
      for (const [op, arg] of Object.entries(value)) {
        if (opts.operators && !opts.operators.has(op)) throw new FilterError(`${key}: operator ${op} is not allowed`);
        const where = `${key}.${op}`;
        if (op in MEILI_COMPARISON) parts.push(`${col} ${MEILI_COMPARISON[op]} ${meiliValue(scalar(arg, where, opts))}`);
        else if (op === '_in' || op === '_nin') {
          if (!Array.isArray(arg)) throw new FilterError(`${where}: expected a list`);
          if (arg.length > MAX_LIST) throw new FilterError(`${where}: at most ${MAX_LIST} values`);
          const list = `[${arg.map((v) => meiliValue(scalar(v, where, opts))).join(', ')}]`;
          parts.push(op === '_in' ? `${col} IN ${list}` : `${col} NOT IN ${list}`);
        } else if (op === '_is_null') {
          if (typeof arg !== 'boolean') throw new FilterError(`${where}: expected true or false`);
          parts.push(arg ? `(${col} IS NULL OR NOT ${col} EXISTS)` : `(${col} IS NOT NULL AND ${col} EXISTS)`);
        } else throw new FilterError(`${key}: operator ${op.slice(0, 32)} has no Meilisearch form`);
      }
    }
  }
  const nonEmpty = parts.filter(Boolean);
  return nonEmpty.length > 1 ? nonEmpty.map((p) => (p.startsWith('(') ? p : `(${p})`)).join(' AND ') : (nonEmpty[0] ?? '');
}

/** Columns a permission filter reads on its own table (they must be in the Meilisearch documents). */
export function filterColumns(exp: unknown, relationships: Record<string, RelationshipDef> = {}): Set<string> {
  return boolExpColumns(exp, (name) => (relationships[name] ? Object.keys(relationships[name]!.mapping) : undefined));
}
