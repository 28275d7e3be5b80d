/**
 * GraphQL root fields on tracked tables compiled to one SQL statement each, the way Hasura does it: the JSON
 * response is built inside PostgreSQL (`json_build_object`/`json_agg`), every table read is under the role's
 * select permission, and permission filters, session variables and arguments are query parameters.
 */
import {
  getArgumentValues,
  getNamedType,
  isObjectType,
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
} from 'graphql';
import { HasuraError } from '../testing/errors.js';
import type { PermissionEngine } from '../testing/permissions.js';
import { roleOf, type SessionVariables } from '../testing/session.js';
import { ident, literal, qualified } from '../testing/sql.js';
import { subFields, type Fragments } from './ast.js';
import type { Column, FunctionModel, Relationship, TableModel } from './model.js';

const DIRECTIONS: Record<string, string> = {
  asc: 'ASC NULLS LAST',
  asc_nulls_first: 'ASC NULLS FIRST',
  asc_nulls_last: 'ASC NULLS LAST',
  desc: 'DESC NULLS FIRST',
  desc_nulls_first: 'DESC NULLS FIRST',
  desc_nulls_last: 'DESC NULLS LAST',
};
const AGGREGATES = new Set(['avg', 'max', 'min', 'sum', 'stddev', 'stddev_pop', 'stddev_samp', 'var_pop', 'var_samp', 'variance']);
const UPDATE_OPERATORS = ['_set', '_inc', '_append', '_prepend', '_delete_key', '_delete_elem', '_delete_at_path'] as const;
const INSERTED = '__nself_inserted';

type Args = Record<string, unknown>;
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A compiled root field: the statement, its parameters, and (mutations) how to find rows failing a check. */
export interface Statement {
  sql: string;
  params: unknown[];
  /** Mutations: the statement's second column counts rows that fail the insert/update permission's check. */
  checked: boolean;
}

interface Join {
  parent: string;
  rel: Relationship;
}

export class SqlCompiler {
  readonly params: unknown[] = [];
  private n = 0;
  readonly role: string;

  constructor(
    private readonly perms: PermissionEngine,
    private readonly session: SessionVariables,
    private readonly vars: Record<string, unknown>,
    private readonly fragments: Fragments,
  ) {
    this.role = roleOf(session);
  }

  private alias(): string {
    return `_a${++this.n}`;
  }

  private param(v: unknown, cast?: string): string {
    this.params.push(v);
    return cast ? `$${this.params.length}::${cast}` : `$${this.params.length}`;
  }

  private columnParam(c: Column, v: unknown): string {
    if (v === null || v === undefined) return `NULL::${c.sqlType}`;
    const value = c.pgType === 'json' || c.pgType === 'jsonb' ? JSON.stringify(v) : isObject(v) ? JSON.stringify(v) : v;
    return this.param(value, c.sqlType);
  }

  args(def: GraphQLField<unknown, unknown>, node: FieldNode): Args {
    try {
      return getArgumentValues(def, node, this.vars) as Args;
    } catch (e) {
      throw new HasuraError((e as Error).message, 'validation-failed');
    }
  }

  /* ------------------------------------------------------------------ permissions and boolean expressions */

  private async selectFilter(t: TableModel, alias: string): Promise<string> {
    if (this.role === 'admin') return 'true';
    const p = t.select.get(this.role);
    if (!p) return 'false';
    return this.perms.compileBoolExp(p.filter, t.table, alias, this.session, this.params, 'permission');
  }

  private async permission(exp: Record<string, unknown>, t: TableModel, alias: string): Promise<string> {
    return this.perms.compileBoolExp(exp, t.table, alias, this.session, this.params, 'permission');
  }

  /** A client's `where`, with GraphQL field names turned back into column names. */
  private async where(exp: unknown, t: TableModel, alias: string): Promise<string> {
    if (exp === undefined || exp === null) return 'true';
    return this.perms.compileBoolExp(toColumns(exp, t), t.table, alias, this.session, this.params, 'where');
  }

  private joinCondition(j: Join | undefined, alias: string): string {
    if (!j) return 'true';
    return j.rel.mapping.map(([local, remote]) => `${alias}.${ident(remote)} = ${j.parent}.${ident(local)}`).join(' AND ');
  }

  /* ------------------------------------------------------------------ ordering */

  private async orderItems(list: unknown, t: TableModel, alias: string): Promise<{ expr: string; dir: string }[]> {
    const out: { expr: string; dir: string }[] = [];
    for (const obj of Array.isArray(list) ? list : list ? [list] : []) {
      for (const [k, v] of Object.entries(obj as Json)) {
        if (v === null || v === undefined) continue;
        const col = t.byField.get(k);
        if (col) {
          out.push({ expr: `${alias}.${ident(col.name)}`, dir: DIRECTIONS[String(v)]! });
          continue;
        }
        const rel = t.relationships.get(k);
        if (rel && rel.kind === 'object') {
          const a = this.alias();
          const cond = `${this.joinCondition({ parent: alias, rel }, a)} AND ${await this.selectFilter(rel.target, a)}`;
          for (const inner of await this.orderItems(v, rel.target, a)) {
            out.push({ expr: `(SELECT ${inner.expr} FROM ${qualified(rel.target.table)} ${a} WHERE ${cond} LIMIT 1)`, dir: inner.dir });
          }
          continue;
        }
        const aggRel = k.endsWith('_aggregate') ? t.relationships.get(k.slice(0, -'_aggregate'.length)) : undefined;
        if (aggRel && aggRel.kind === 'array') {
          const a = this.alias();
          const from = `FROM ${qualified(aggRel.target.table)} ${a} WHERE ${this.joinCondition({ parent: alias, rel: aggRel }, a)} AND ${await this.selectFilter(aggRel.target, a)}`;
          for (const [fn, sub] of Object.entries(v as Json)) {
            if (sub === null || sub === undefined) continue;
            if (fn === 'count') out.push({ expr: `(SELECT count(*) ${from})`, dir: DIRECTIONS[String(sub)]! });
            else {
              for (const [f, d] of Object.entries(sub as Json)) {
                const c = aggRel.target.byField.get(f)!;
                out.push({ expr: `(SELECT ${fn}(${a}.${ident(c.name)}) ${from})`, dir: DIRECTIONS[String(d)]! });
              }
            }
          }
          continue;
        }
        throw new HasuraError(`field "${k}" not found in type: '${t.typeName}_order_by'`, 'validation-failed');
      }
    }
    return out;
  }

  /* ------------------------------------------------------------------ reading */

  /** `SELECT a.* FROM t a WHERE join AND permission AND where ORDER BY … LIMIT … OFFSET …` and the ordering to aggregate by. */
  private async rows(t: TableModel, args: Args, j: Join | undefined, extra?: (alias: string) => string, from?: string): Promise<{ alias: string; inner: string; order: string }> {
    const a = this.alias();
    const conds = [this.joinCondition(j, a), await this.selectFilter(t, a), await this.where(args.where, t, a)];
    if (extra) conds.push(extra(a));
    const items = await this.orderItems(args.order_by, t, a);
    let distinct = '';
    const distinctOn = (args.distinct_on as string[] | undefined) ?? [];
    if (distinctOn.length) {
      const cols = distinctOn.map((f) => `${a}.${ident(t.byField.get(f)!.name)}`);
      const lead = items.slice(0, cols.length).map((i) => i.expr);
      if (items.length && !cols.every((c) => lead.includes(c))) throw new HasuraError('"distinct_on" columns must match initial "order_by" columns', 'validation-failed');
      if (!items.length) items.push(...cols.map((expr) => ({ expr, dir: 'ASC NULLS LAST' })));
      distinct = `DISTINCT ON (${cols.join(', ')}) `;
    }
    const order = items.map((i) => `${i.expr} ${i.dir}`).join(', ');
    let limit = args.limit as number | undefined | null;
    if (limit !== undefined && limit !== null && limit < 0) throw new HasuraError('unexpected negative value for "limit"', 'validation-failed');
    const offset = args.offset as number | undefined | null;
    if (offset !== undefined && offset !== null && offset < 0) throw new HasuraError('unexpected negative value for "offset"', 'validation-failed');
    const permLimit = this.role === 'admin' ? undefined : t.select.get(this.role)?.limit;
    if (permLimit !== undefined) limit = limit === undefined || limit === null ? permLimit : Math.min(limit, permLimit);
    const inner =
      `SELECT ${distinct}${a}.* FROM ${from ?? qualified(t.table)} ${a} WHERE ${conds.map((c) => `(${c})`).join(' AND ')}` +
      (order ? ` ORDER BY ${order}` : '') +
      (limit !== undefined && limit !== null ? ` LIMIT ${Number(limit)}` : '') +
      (offset ? ` OFFSET ${Number(offset)}` : '');
    return { alias: a, inner, order };
  }

  /** The JSON of one row: the selected columns, relationships and aggregates, in selection order. */
  async row(t: TableModel, type: GraphQLObjectType, alias: string, fields: Map<string, FieldNode[]>): Promise<string> {
    const pairs: [string, string][] = [];
    for (const [key, nodes] of fields) {
      const name = nodes[0]!.name.value;
      if (name === '__typename') {
        pairs.push([key, literal(type.name)]);
        continue;
      }
      const col = t.byField.get(name);
      if (col) {
        pairs.push([key, `${alias}.${ident(col.name)}`]);
        continue;
      }
      const def = type.getFields()[name]!;
      const target = getNamedType(def.type) as GraphQLObjectType;
      const rel = t.relationships.get(name);
      if (rel?.kind === 'object') {
        const a = this.alias();
        const body = await this.row(rel.target, target, a, subFields(nodes, this.fragments, this.vars));
        pairs.push([key, `(SELECT ${body} FROM ${qualified(rel.target.table)} ${a} WHERE ${this.joinCondition({ parent: alias, rel }, a)} AND ${await this.selectFilter(rel.target, a)} LIMIT 1)`]);
      } else if (rel?.kind === 'array') {
        pairs.push([key, await this.list(rel.target, target, this.args(def, nodes[0]!), nodes, { parent: alias, rel })]);
      } else {
        const aggRel = t.relationships.get(name.slice(0, -'_aggregate'.length))!;
        pairs.push([key, await this.aggregate(aggRel.target, target, this.args(def, nodes[0]!), nodes, { parent: alias, rel: aggRel })]);
      }
    }
    return jsonObject(pairs);
  }

  async list(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], j?: Join, from?: string): Promise<string> {
    const { alias, inner, order } = await this.rows(t, args, j, undefined, from);
    const body = await this.row(t, type, alias, subFields(nodes, this.fragments, this.vars));
    return `(SELECT coalesce(json_agg(${body}${order ? ` ORDER BY ${order}` : ''}), '[]'::json) FROM (${inner}) ${alias})`;
  }

  async byPk(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[]): Promise<string> {
    const a = this.alias();
    const pk = t.primaryKey.map((c) => `${a}.${ident(c)} = ${this.columnParam(t.byName.get(c)!, args[t.byName.get(c)!.field])}`).join(' AND ');
    const body = await this.row(t, type, a, subFields(nodes, this.fragments, this.vars));
    return `(SELECT ${body} FROM ${qualified(t.table)} ${a} WHERE ${pk} AND (${await this.selectFilter(t, a)}) LIMIT 1)`;
  }

  async aggregate(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], j?: Join, from?: string): Promise<string> {
    const { alias: a, inner, order } = await this.rows(t, args, j, undefined, from);
    const pairs: [string, string][] = [];
    for (const [key, sub] of subFields(nodes, this.fragments, this.vars)) {
      const name = sub[0]!.name.value;
      if (name === '__typename') pairs.push([key, literal(type.name)]);
      else if (name === 'nodes') {
        const nodeType = getNamedType(type.getFields().nodes!.type) as GraphQLObjectType;
        const body = await this.row(t, nodeType, a, subFields(sub, this.fragments, this.vars));
        pairs.push([key, `coalesce(json_agg(${body}${order ? ` ORDER BY ${order}` : ''}), '[]'::json)`]);
      } else {
        const aggType = getNamedType(type.getFields().aggregate!.type) as GraphQLObjectType;
        const inside: [string, string][] = [];
        for (const [k2, n2] of subFields(sub, this.fragments, this.vars)) {
          const fn = n2[0]!.name.value;
          if (fn === '__typename') inside.push([k2, literal(aggType.name)]);
          else if (fn === 'count') {
            const cargs = this.args(aggType.getFields().count!, n2[0]!);
            const cols = ((cargs.columns as string[] | undefined) ?? []).map((f) => `${a}.${ident(t.byField.get(f)!.name)}`);
            const distinct = cargs.distinct === true ? 'DISTINCT ' : '';
            inside.push([k2, cols.length === 0 ? (distinct ? `count(DISTINCT ${a}.*)` : 'count(*)') : `count(${distinct}${cols.length === 1 ? cols[0] : `(${cols.join(', ')})`})`]);
          } else if (AGGREGATES.has(fn)) {
            const fnType = getNamedType(aggType.getFields()[fn]!.type) as GraphQLObjectType;
            const cols: [string, string][] = [];
            for (const [k3, n3] of subFields(n2, this.fragments, this.vars)) {
              const f = n3[0]!.name.value;
              cols.push([k3, f === '__typename' ? literal(fnType.name) : `${fn}(${a}.${ident(t.byField.get(f)!.name)})`]);
            }
            inside.push([k2, jsonObject(cols)]);
          }
        }
        pairs.push([key, jsonObject(inside)]);
      }
    }
    return `(SELECT ${jsonObject(pairs)} FROM (${inner}) ${a})`;
  }

  /** `schema.fn(arg => $n::type, …)`: a tracked function's call, its session argument filled from the session. */
  functionCall(fn: FunctionModel, args: Args): string {
    const given = (args.args ?? {}) as Json;
    const parts: string[] = [];
    for (const a of fn.args) {
      if (a.name === fn.sessionArgument) parts.push(`${ident(a.name)} => ${this.param(JSON.stringify(this.session), a.sqlType)}`);
      else if (a.name in given) parts.push(`${ident(a.name)} => ${given[a.name] === null ? `NULL::${a.sqlType}` : this.param(isObject(given[a.name]) || Array.isArray(given[a.name]) ? JSON.stringify(given[a.name]) : given[a.name], a.sqlType)}`);
      else if (!a.hasDefault) throw new HasuraError(`missing argument "${a.name}" of function ${fn.schema}.${fn.name}`, 'validation-failed');
    }
    return `${ident(fn.schema)}.${ident(fn.name)}(${parts.join(', ')})`;
  }

  /** Rows of `t` matching `pairs` (an action output joined to a table), under the caller's select permission. */
  async related(t: TableModel, type: GraphQLObjectType, nodes: FieldNode[], kind: 'object' | 'array', pairs: [string, unknown][]): Promise<string> {
    const match = (a: string) => pairs.map(([c, v]) => `${a}.${ident(c)} = ${this.columnParam(t.byName.get(c)!, v)}`).join(' AND ');
    const fields = subFields(nodes, this.fragments, this.vars);
    if (kind === 'object') {
      const a = this.alias();
      return `(SELECT ${await this.row(t, type, a, fields)} FROM ${qualified(t.table)} ${a} WHERE ${match(a)} AND (${await this.selectFilter(t, a)}) LIMIT 1)`;
    }
    const { alias, inner, order } = await this.rows(t, {}, undefined, match);
    return `(SELECT coalesce(json_agg(${await this.row(t, type, alias, fields)}${order ? ` ORDER BY ${order}` : ''}), '[]'::json) FROM (${inner}) ${alias})`;
  }

  /** `<t>_stream`: the next batch after the cursor, and the cursor value of its last row. */
  async stream(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], cursorValue: unknown): Promise<{ sql: string; column: Column; ordering: 'ASC' | 'DESC' }> {
    const cursors = (args.cursor as Json[] | undefined) ?? [];
    if (cursors.length !== 1 || !cursors[0]) throw new HasuraError('one streaming cursor is expected', 'validation-failed');
    const initial = (cursors[0].initial_value ?? {}) as Json;
    const keys = Object.keys(initial);
    if (keys.length !== 1) throw new HasuraError('exactly one cursor column is expected in "initial_value"', 'validation-failed');
    const column = t.byField.get(keys[0]!)!;
    const ordering = cursors[0].ordering === 'DESC' ? 'DESC' : 'ASC';
    const batch = args.batch_size as number;
    if (!(batch > 0)) throw new HasuraError('"batch_size" must be a positive integer', 'validation-failed');
    const value = cursorValue === undefined ? initial[keys[0]!] : cursorValue;
    const { alias: a, inner } = await this.rows(t, { where: args.where, order_by: [{ [column.field]: ordering === 'ASC' ? 'asc' : 'desc' }], limit: batch }, undefined, (x) =>
      value === null || value === undefined ? 'true' : `${x}.${ident(column.name)} ${ordering === 'ASC' ? '>' : '<'} ${this.columnParam(column, value)}`,
    );
    const ref = `${a}.${ident(column.name)}`;
    const body = await this.row(t, type, a, subFields(nodes, this.fragments, this.vars));
    return {
      sql: `SELECT (coalesce(json_agg(${body} ORDER BY ${ref} ${ordering}), '[]'::json))::text AS root, (array_agg(${ref}::text ORDER BY ${ref} ${ordering === 'ASC' ? 'DESC' : 'ASC'}))[1] AS cursor FROM (${inner}) ${a}`,
      column,
      ordering,
    };
  }

  /* ------------------------------------------------------------------ writing */

  private insertPermission(t: TableModel) {
    if (this.role === 'admin') return { columns: t.columns.map((c) => c.name), check: {}, set: {} as Json };
    return t.insert.get(this.role)!;
  }

  private updatePermission(t: TableModel) {
    if (this.role === 'admin') return { columns: t.columns.map((c) => c.name), filter: {}, check: null as Json | null, set: {} as Json };
    return t.update.get(this.role)!;
  }

  /** The response of a mutation over the affected rows in CTE `a`: a `<t>_mutation_response` or one row. */
  private async response(t: TableModel, type: GraphQLObjectType, a: string, nodes: FieldNode[], one: boolean): Promise<string> {
    const fields = subFields(nodes, this.fragments, this.vars);
    if (one) return `(SELECT ${await this.row(t, type, a, fields)} FROM ${a} WHERE ${await this.selectFilter(t, a)} LIMIT 1)`;
    const pairs: [string, string][] = [];
    for (const [key, sub] of fields) {
      const name = sub[0]!.name.value;
      if (name === '__typename') pairs.push([key, literal(type.name)]);
      else if (name === 'affected_rows') pairs.push([key, `(SELECT count(*) FROM ${a})::int`]);
      else {
        const rowType = getNamedType(type.getFields().returning!.type) as GraphQLObjectType;
        const body = await this.row(t, rowType, a, subFields(sub, this.fragments, this.vars));
        pairs.push([key, `(SELECT coalesce(json_agg(${body}), '[]'::json) FROM ${a} WHERE ${await this.selectFilter(t, a)})`]);
      }
    }
    return jsonObject(pairs);
  }

  private presets(t: TableModel, set: Json): Map<string, string> {
    const out = new Map<string, string>();
    for (const [c, v] of Object.entries(set)) {
      const col = t.byName.get(c);
      if (!col) throw new HasuraError(`preset column "${c}" does not exist in table ${t.table.name}`, 'unexpected');
      out.set(c, this.columnParam(col, this.perms.sessionValue(v, this.session)));
    }
    return out;
  }

  async insert(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], one: boolean): Promise<Statement> {
    const perm = this.insertPermission(t);
    const objects = (one ? [args.object] : (args.objects as Json[])) as Json[];
    const presets = this.presets(t, perm.set);
    const a = this.alias();
    const ins = this.alias();
    let cte: string;
    if (objects.length === 0) {
      cte = `SELECT ${ins}.*, true AS ${INSERTED} FROM ${qualified(t.table)} ${ins} WHERE false`;
    } else {
      const rows = objects.map((o) => {
        const r = new Map<string, string>();
        for (const [f, v] of Object.entries(o)) {
          const col = t.byField.get(f);
          if (!col) throw new HasuraError(`field "${f}" not found in type: '${t.typeName}_insert_input'`, 'validation-failed');
          r.set(col.name, this.columnParam(col, v));
        }
        for (const [c, sql] of presets) r.set(c, sql);
        return r;
      });
      const cols = [...new Set(rows.flatMap((r) => [...r.keys()]))];
      const values = cols.length
        ? `(${cols.map(ident).join(', ')}) VALUES ${rows.map((r) => `(${cols.map((c) => r.get(c) ?? 'DEFAULT').join(', ')})`).join(', ')}`
        : rows.length === 1
          ? 'DEFAULT VALUES'
          : `(${ident(t.columns[0]!.name)}) VALUES ${rows.map(() => '(DEFAULT)').join(', ')}`;
      let conflict = '';
      const oc = args.on_conflict as Json | undefined | null;
      if (oc) {
        const constraint = String(oc.constraint);
        const updateColumns = ((oc.update_columns as string[] | undefined) ?? []).map((f) => t.byField.get(f)!.name);
        if (updateColumns.length === 0) conflict = ` ON CONFLICT ON CONSTRAINT ${ident(constraint)} DO NOTHING`;
        else {
          const up = this.updatePermission(t);
          const sets = new Map(updateColumns.map((c) => [c, `EXCLUDED.${ident(c)}`]));
          for (const [c, sql] of this.presets(t, up.set)) sets.set(c, sql);
          const cond = `(${await this.permission(up.filter, t, ins)}) AND (${await this.where(oc.where, t, ins)})`;
          conflict = ` ON CONFLICT ON CONSTRAINT ${ident(constraint)} DO UPDATE SET ${[...sets].map(([c, v]) => `${ident(c)} = ${v}`).join(', ')} WHERE ${cond}`;
        }
      }
      cte = `INSERT INTO ${qualified(t.table)} AS ${ins} ${values}${conflict} RETURNING ${ins}.*, (${ins}.xmax::text = '0') AS ${INSERTED}`;
    }
    const insertCheck = await this.permission(perm.check, t, a);
    const up = args.on_conflict ? this.updatePermission(t) : undefined;
    const updateCheck = up?.check ? await this.permission(up.check, t, a) : 'true';
    const check = `CASE WHEN ${a}.${INSERTED} THEN (${insertCheck}) ELSE (${updateCheck}) END`;
    const body = await this.response(t, type, a, nodes, one);
    return { sql: `WITH ${a} AS (${cte}) SELECT (${body})::text AS root, (SELECT count(*) FROM ${a} WHERE NOT coalesce(${check}, false))::int AS violations`, params: this.params, checked: true };
  }

  async update(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], byPk: boolean): Promise<Statement> {
    const perm = this.updatePermission(t);
    const a = this.alias();
    const u = this.alias();
    const sets = new Map<string, { op: string; sql: string }>();
    for (const op of UPDATE_OPERATORS) {
      const values = args[op] as Json | undefined | null;
      if (!values) continue;
      for (const [f, v] of Object.entries(values)) {
        const col = t.byField.get(f)!;
        const prior = sets.get(col.name);
        if (prior) throw new HasuraError(`column found in multiple operators; "${col.field}" in ${prior.op}, ${op} operators`, 'validation-failed');
        const ref = `${u}.${ident(col.name)}`;
        const sql =
          op === '_set'
            ? this.columnParam(col, v)
            : op === '_inc'
              ? `${ref} + ${this.columnParam(col, v)}`
              : op === '_append'
                ? `${ref} || ${this.param(JSON.stringify(v), 'jsonb')}`
                : op === '_prepend'
                  ? `${this.param(JSON.stringify(v), 'jsonb')} || ${ref}`
                  : op === '_delete_key'
                    ? `${ref} - ${this.param(v, 'text')}`
                    : op === '_delete_elem'
                      ? `${ref} - ${this.param(v, 'int')}`
                      : `${ref} #- ${this.param(v, 'text[]')}`;
        sets.set(col.name, { op, sql });
      }
    }
    if (sets.size === 0 && !UPDATE_OPERATORS.some((op) => args[op])) throw new HasuraError(`at least any one of ${UPDATE_OPERATORS.join(', ')} is expected`, 'validation-failed');
    for (const [c, sql] of this.presets(t, perm.set)) sets.set(c, { op: 'preset', sql });
    let where: string;
    if (byPk) {
      const pk = args.pk_columns as Json;
      where = t.primaryKey.map((c) => `${u}.${ident(c)} = ${this.columnParam(t.byName.get(c)!, pk[t.byName.get(c)!.field])}`).join(' AND ');
    } else where = await this.where(args.where, t, u);
    const filter = await this.permission(perm.filter, t, u);
    // An update with nothing to set still matches rows (Hasura answers their count); set a column to itself.
    const assignments = sets.size ? [...sets].map(([c, s]) => `${ident(c)} = ${s.sql}`) : [`${ident(t.columns[0]!.name)} = ${u}.${ident(t.columns[0]!.name)}`];
    const cte = `UPDATE ${qualified(t.table)} AS ${u} SET ${assignments.join(', ')} WHERE (${filter}) AND (${where}) RETURNING ${u}.*`;
    const check = perm.check ? await this.permission(perm.check, t, a) : 'true';
    const body = await this.response(t, type, a, nodes, byPk);
    return { sql: `WITH ${a} AS (${cte}) SELECT (${body})::text AS root, (SELECT count(*) FROM ${a} WHERE NOT coalesce(${check}, false))::int AS violations`, params: this.params, checked: true };
  }

  async delete(t: TableModel, type: GraphQLObjectType, args: Args, nodes: FieldNode[], byPk: boolean): Promise<Statement> {
    const a = this.alias();
    const d = this.alias();
    const filter = this.role === 'admin' ? 'true' : await this.permission(t.delete.get(this.role)!.filter, t, d);
    const where = byPk
      ? t.primaryKey.map((c) => `${d}.${ident(c)} = ${this.columnParam(t.byName.get(c)!, args[t.byName.get(c)!.field])}`).join(' AND ')
      : await this.where(args.where, t, d);
    const body = await this.response(t, type, a, nodes, byPk);
    return { sql: `WITH ${a} AS (DELETE FROM ${qualified(t.table)} AS ${d} WHERE (${filter}) AND (${where}) RETURNING ${d}.*) SELECT (${body})::text AS root, 0 AS violations`, params: this.params, checked: false };
  }
}

/** `json_build_object` takes at most 100 arguments; wider objects go through `row_to_json`, which keeps the order. */
function jsonObject(pairs: [string, string][]): string {
  if (pairs.length <= 50) return `json_build_object(${pairs.map(([k, v]) => `${literal(k)}, ${v}`).join(', ')})`;
  return `(SELECT row_to_json(_o) FROM (SELECT ${pairs.map(([k, v]) => `${v} AS ${ident(k)}`).join(', ')}) _o)`;
}

/** A boolean expression over GraphQL field names (custom column names) rewritten to column names. */
export function toColumns(exp: unknown, t: TableModel): unknown {
  if (!isObject(exp)) return exp;
  const out: Json = {};
  for (const [k, v] of Object.entries(exp)) {
    if (k === '_and' || k === '_or') out[k] = Array.isArray(v) ? v.map((e) => toColumns(e, t)) : toColumns(v, t);
    else if (k === '_not') out[k] = toColumns(v, t);
    else if (k === '_exists') out[k] = v;
    else {
      const rel = t.relationships.get(k);
      if (rel) out[k] = toColumns(v, rel.target);
      else out[t.byField.get(k)?.name ?? k] = v;
    }
  }
  return out;
}

export function objectTypeOf(def: GraphQLField<unknown, unknown>): GraphQLObjectType {
  const t = getNamedType(def.type);
  if (!isObjectType(t)) throw new HasuraError(`field "${def.name}" has no object type`, 'unexpected');
  return t;
}
