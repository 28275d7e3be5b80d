/**
 * Hasura boolean expressions (the syntax of permission filters and of a client's `where`) compiled to
 * parametrised SQL: `_and`/`_or`/`_not`, `_exists`, column operators, and object/array relationships. The
 * Hasura harness, the dev GraphQL endpoint and the search plugin all compile through here; each describes its
 * tables through a `BoolExpSchema` (live catalogue and metadata, or index definitions).
 *
 * Values are always parameters, never concatenated; identifiers come only from the schema. `X-Hasura-*` strings
 * are session variables when a session is given (permission filters), literals otherwise (a caller's filter).
 * A column whose type the schema does not know compares strings as text, so a value of another shape (a user id
 * that is not a uuid) matches nothing instead of failing the statement.
 */

/** Why an expression was refused, with Hasura's error code (or `unsupported`: valid Hasura, not evaluated here). */
export type BoolExpErrorCode = 'parse-failed' | 'validation-failed' | 'not-found' | 'unsupported';

export class BoolExpError extends Error {
  constructor(
    message: string,
    readonly code: BoolExpErrorCode,
  ) {
    super(message);
    this.name = 'BoolExpError';
  }
}

export interface BoolExpColumn {
  name: string;
  /** PostgreSQL type name (`pg_type.typname`); absent when the schema does not know it. */
  type?: string;
}

export interface BoolExpRelationship<T> {
  target: T;
  /** [column of this table, column of the target] pairs. */
  mapping: ReadonlyArray<readonly [string, string]>;
  /** An extra condition on the target's rows (aliased `alias`), e.g. the role's select permission there. */
  guard?(alias: string): string;
}

/** How a caller's tables look to the compiler. Lookups throw the caller's own error for a name they refuse. */
export interface BoolExpSchema<T> {
  /** The table as SQL (`"schema"."name"`). */
  sql(table: T): string;
  /** A relationship of `table` named `name`, or undefined when `name` is not one. Asked before `column`. */
  relationship(table: T, name: string): BoolExpRelationship<T> | undefined;
  /** The column `name` of `table` (throws when there is none or it may not be read). */
  column(table: T, name: string): BoolExpColumn;
  /** `_exists: {_table}`: the table named; absent: `_exists` is not supported. */
  table?(name: unknown): T;
}

export interface BoolExpOptions<T> {
  schema: BoolExpSchema<T>;
  /** Values are appended here and referenced as `$n`. */
  params: unknown[];
  /** Session variables (lower-case keys): `X-Hasura-*` strings read from it. `null`: every value is a literal. */
  session: Readonly<Record<string, string | undefined>> | null;
  /** Column operators allowed (default: every operator the compiler knows). */
  operators?: ReadonlySet<string>;
  /** Deepest nesting accepted (default 32). */
  maxDepth?: number;
  /** Longest `_in`/`_nin` list (default: no limit). */
  maxListLength?: number;
  /** Who does not support what is refused as `unsupported` ("the harness"), named in those messages. */
  unsupportedBy?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
export const SESSION_VARIABLE = /^x-hasura-/i;
const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

const COMPARISONS: Record<string, string> = {
  _eq: '=',
  _neq: '<>',
  _gt: '>',
  _gte: '>=',
  _lt: '<',
  _lte: '<=',
  _like: 'LIKE',
  _nlike: 'NOT LIKE',
  _ilike: 'ILIKE',
  _nilike: 'NOT ILIKE',
  _similar: 'SIMILAR TO',
  _nsimilar: 'NOT SIMILAR TO',
  _regex: '~',
  _nregex: '!~',
  _iregex: '~*',
  _niregex: '!~*',
};
const EQUALITY = new Set(['_eq', '_neq']);
const TEXT_ONLY = new Set(['_similar', '_nsimilar', '_regex', '_nregex', '_iregex', '_niregex']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'citext', 'name']);
/** Column-to-column comparisons (`{a: {_ceq: "b"}}`), compared within the same row. */
const COLUMN_COMPARISONS: Record<string, string> = { _ceq: '=', _cne: '<>', _cneq: '<>', _cgt: '>', _cgte: '>=', _clt: '<', _clte: '<=' };
/** jsonb operators: the SQL operator and the value's parameter type. */
const JSONB_OPERATORS: Record<string, [string, string]> = {
  _contains: ['@>', 'jsonb'],
  _contained_in: ['<@', 'jsonb'],
  _has_key: ['?', 'text'],
  _has_keys_any: ['?|', 'text[]'],
  _has_keys_all: ['?&', 'text[]'],
};

interface Ctx<T> extends BoolExpOptions<T> {
  depth: number;
}

/** "is not supported" with, when known, by whom. */
const notSupported = (ctx: Ctx<unknown>) => `is not supported${ctx.unsupportedBy ? ` by ${ctx.unsupportedBy}` : ''}`;

/** `exp` on `table` (rows aliased `alias`) as a SQL condition; its values are appended to `opts.params`. */
export function compileBoolExp<T>(exp: unknown, table: T, alias: string, opts: BoolExpOptions<T>): string {
  return compile(exp, table, alias, { ...opts, depth: 0 });
}

function param(ctx: Ctx<unknown>, v: unknown): string {
  ctx.params.push(v);
  return `$${ctx.params.length}`;
}

const fromSession = (raw: unknown, ctx: Ctx<unknown>): raw is string => ctx.session !== null && typeof raw === 'string' && SESSION_VARIABLE.test(raw);

/** A value: `X-Hasura-*` strings are read from the session when there is one (missing → Hasura's error). */
export function sessionValue(v: unknown, session: Readonly<Record<string, string | undefined>> | null): unknown {
  if (session && typeof v === 'string' && SESSION_VARIABLE.test(v)) {
    const s = session[v.toLowerCase()];
    if (s === undefined) throw new BoolExpError(`missing session variable: "${v.toLowerCase()}"`, 'not-found');
    return s;
  }
  return v;
}

function compile<T>(exp: unknown, table: T, alias: string, ctx: Ctx<T>): string {
  if (!isObject(exp)) throw new BoolExpError(`expecting an object for boolean expression, got ${String(JSON.stringify(exp)).slice(0, 100)}`, 'parse-failed');
  const maxDepth = ctx.maxDepth ?? 32;
  if (ctx.depth > maxDepth) throw new BoolExpError(`boolean expression nested deeper than ${maxDepth} levels`, 'unsupported');
  const inner = { ...ctx, depth: ctx.depth + 1 };
  const parts: string[] = [];
  // Aliases of subqueries extend their parent's, so nested and sibling subqueries never shadow one another.
  const sub = () => `${alias}_${parts.length}`;
  for (const [k, v] of Object.entries(exp)) {
    if (k === '_and' || k === '_or') {
      const list = Array.isArray(v) ? v : [v];
      const subs = list.map((e) => compile(e, table, alias, inner));
      parts.push(subs.length ? `(${subs.join(k === '_and' ? ' AND ' : ' OR ')})` : k === '_and' ? 'true' : 'false');
    } else if (k === '_not') {
      parts.push(`NOT (${compile(v, table, alias, inner)})`);
    } else if (k === '_exists') {
      if (!ctx.schema.table) throw new BoolExpError(`_exists ${notSupported(ctx)}`, 'unsupported');
      if (!isObject(v) || !v._table) throw new BoolExpError('_exists needs _table and _where', 'parse-failed');
      const target = ctx.schema.table(v._table);
      const a = sub();
      parts.push(`EXISTS (SELECT 1 FROM ${ctx.schema.sql(target)} ${a} WHERE ${compile(v._where ?? {}, target, a, inner)})`);
    } else if (k.startsWith('_')) {
      throw new BoolExpError(`boolean operator "${k.slice(0, 32)}" ${notSupported(ctx)}`, 'unsupported');
    } else {
      const rel = ctx.schema.relationship(table, k);
      if (rel) {
        const a = sub();
        const join = rel.mapping.map(([mine, theirs]) => `${a}.${ident(theirs)} = ${alias}.${ident(mine)}`);
        const cond = compile(v, rel.target, a, inner);
        const guard = rel.guard?.(a);
        parts.push(`EXISTS (SELECT 1 FROM ${ctx.schema.sql(rel.target)} ${a} WHERE ${[...join, guard ? `(${cond}) AND (${guard})` : cond].join(' AND ')})`);
      } else {
        parts.push(column(k, v, table, alias, inner));
      }
    }
  }
  return parts.length ? parts.join(' AND ') : 'true';
}

function column<T>(name: string, v: unknown, table: T, alias: string, ctx: Ctx<T>): string {
  const col = ctx.schema.column(table, name);
  if (!isObject(v)) throw new BoolExpError(`expecting an object of operators for column "${name}"`, 'parse-failed');
  const ref = `${alias}.${ident(col.name)}`;
  const json = col.type === 'json' || col.type === 'jsonb';
  const parts: string[] = [];
  for (const [op, raw] of Object.entries(v)) {
    if (ctx.operators && !ctx.operators.has(op)) throw new BoolExpError(`operator ${op.slice(0, 32)} on "${name}" is not allowed (allowed: ${[...ctx.operators].join(', ')})`, 'validation-failed');
    if (raw === null && op !== '_is_null') throw new BoolExpError(`"${op}": null on column "${name}": Hasura versions disagree on null comparisons; use _is_null`, 'unsupported');
    const val = sessionValue(raw, ctx.session);
    if (op in COLUMN_COMPARISONS) {
      if (typeof raw !== 'string') throw new BoolExpError(`"${op}" on column "${name}": only a column of the same table is supported (not the ["$", …] root-table form)`, 'unsupported');
      parts.push(`${ref} ${COLUMN_COMPARISONS[op]} ${alias}.${ident(ctx.schema.column(table, raw).name)}`);
    } else if (op in JSONB_OPERATORS) {
      if (col.type !== 'jsonb') throw new BoolExpError(`"${op}" is only defined on jsonb columns, not on "${name}"`, 'validation-failed');
      if (ctx.session && !fromSession(raw, ctx) && JSON.stringify(raw).match(/"x-hasura-/i)) {
        // Whether Hasura reads a session variable nested inside a JSON value is not settled here: refuse, never guess.
        throw new BoolExpError(`column operator "${op}" ${notSupported(ctx)} with a session variable nested in its JSON value (${name})`, 'unsupported');
      }
      const [sqlOp, type] = JSONB_OPERATORS[op]!;
      if (type === 'text[]' && !(Array.isArray(val) && val.every((x) => typeof x === 'string'))) throw new BoolExpError(`expected a list of strings for ${op} on "${name}"`, 'validation-failed');
      if (type === 'text' && typeof val !== 'string') throw new BoolExpError(`expected a string for ${op} on "${name}"`, 'validation-failed');
      // A session variable holds JSON text for the jsonb operators.
      parts.push(`${ref} ${sqlOp} ${param(ctx, type === 'jsonb' && !fromSession(raw, ctx) ? JSON.stringify(val) : val)}::${type}`);
    } else if (op === '_cast') {
      throw new BoolExpError(`"_cast" on column "${name}" ${notSupported(ctx)}; compare the column with its own type's operators`, 'unsupported');
    } else if (op in COMPARISONS) {
      if (TEXT_ONLY.has(op) && col.type !== undefined && !TEXT_TYPES.has(col.type)) throw new BoolExpError(`column operator "${op}" is only defined on text columns, not on "${name}" (${col.type})`, 'unsupported');
      if (typeof val === 'object' && !json) throw new BoolExpError(`unexpected ${Array.isArray(val) ? 'array' : 'object'} for ${op} on "${name}"`, 'validation-failed');
      if (col.type === undefined && EQUALITY.has(op) && typeof val === 'string') parts.push(`${ref}::text ${COMPARISONS[op]} ${param(ctx, val)}::text`);
      else parts.push(`${ref} ${COMPARISONS[op]} ${param(ctx, json ? JSON.stringify(val) : val)}`);
    } else if (op === '_in' || op === '_nin') {
      parts.push(list(op, name, raw, val, col, ref, json, ctx));
    } else if (op === '_is_null') {
      if (typeof raw !== 'boolean') throw new BoolExpError(`expected a boolean for _is_null on "${name}"`, 'validation-failed');
      parts.push(raw ? `${ref} IS NULL` : `${ref} IS NOT NULL`);
    } else {
      throw new BoolExpError(`column operator "${op.slice(0, 32)}" ${notSupported(ctx)}`, 'unsupported');
    }
  }
  return parts.length ? `(${parts.join(' AND ')})` : 'true';
}

function list(op: '_in' | '_nin', name: string, raw: unknown, val: unknown, col: BoolExpColumn, ref: string, json: boolean, ctx: Ctx<unknown>): string {
  if (Array.isArray(val)) {
    if (ctx.maxListLength !== undefined && val.length > ctx.maxListLength) throw new BoolExpError(`${op} on "${name}": at most ${ctx.maxListLength} values`, 'validation-failed');
    if (val.length === 0) return op === '_in' ? 'false' : 'true';
    if (col.type === undefined) {
      // An untyped column compares as text: each value must be a scalar (or a session variable holding one).
      const texts = val.map((x) => {
        const s = sessionValue(x, ctx.session);
        if (!['string', 'number', 'boolean'].includes(typeof s)) throw new BoolExpError(`expected a list of strings, numbers or booleans for ${op} on "${name}"`, 'validation-failed');
        return String(s);
      });
      const p = param(ctx, texts);
      return op === '_in' ? `${ref}::text = ANY(${p}::text[])` : `NOT (${ref}::text = ANY(${p}::text[]))`;
    }
    const p = param(ctx, json ? val.map((x) => JSON.stringify(x)) : val);
    return op === '_in' ? `${ref} = ANY(${p})` : `${ref} <> ALL(${p})`;
  }
  if (typeof val === 'string' && col.type !== undefined && fromSession(raw, ctx)) {
    // A session variable holding a Postgres array literal, e.g. '{1,2,3}'.
    const p = `${param(ctx, val)}::text::${ident(col.type)}[]`;
    return op === '_in' ? `${ref} = ANY(${p})` : `${ref} <> ALL(${p})`;
  }
  throw new BoolExpError(`expected a list for ${op} on "${name}"`, 'validation-failed');
}

/** Columns of its own table an expression reads (relationship keys count as their mapped columns). */
export function boolExpColumns(exp: unknown, relationshipColumns: (name: string) => readonly string[] | undefined = () => undefined): Set<string> {
  const out = new Set<string>();
  const walk = (e: unknown) => {
    if (!isObject(e)) return;
    for (const [k, v] of Object.entries(e)) {
      if (k === '_and' || k === '_or') (Array.isArray(v) ? v : [v]).forEach(walk);
      else if (k === '_not') walk(v);
      else if (k.startsWith('_')) continue;
      else {
        const mapped = relationshipColumns(k);
        if (mapped) mapped.forEach((c) => out.add(c));
        else out.add(k);
      }
    }
  };
  walk(exp);
  return out;
}
