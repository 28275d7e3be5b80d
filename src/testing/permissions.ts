/**
 * Table permissions compiled to parametrised SQL, enough to show which rows (and columns) a role can read and
 * whether an insert passes its check. Boolean expressions go through the shared compiler (src/hasura/bool-exp.ts)
 * with the tracked tables' columns, types and relationships; `X-Hasura-*` strings in permissions are session
 * variables. Anything else throws: a permission the harness cannot evaluate must never read as "allowed".
 */
import type pg from 'pg';
import { HarnessConfigError, HarnessUnsupportedError, HasuraError } from './errors.js';
import { qualify, type QualifiedTable, type RelationshipMeta, type TableMeta } from './metadata.js';
import { ident, qualified, type ColumnInfo } from './sql.js';
import { roleOf, type SessionVariables } from './session.js';
import { BoolExpError, compileBoolExp, sessionValue, type BoolExpOptions, type BoolExpSchema } from '../hasura/bool-exp.js';

export interface Relationship {
  name: string;
  target: QualifiedTable;
  /** [local column, remote column] pairs. */
  mapping: [string, string][];
}

interface TableInfo {
  table: QualifiedTable;
  meta: TableMeta;
  columns: ColumnInfo[];
  relationships: Map<string, Relationship>;
}

export interface ForeignKey {
  src: QualifiedTable;
  srcCols: string[];
  tgt: QualifiedTable;
  tgtCols: string[];
}

const key = (t: QualifiedTable): string => `${t.schema}.${t.name}`;

/** Hasura's GraphQL type name prefix for a table: `name` in public, `schema_name` elsewhere. */
const typePrefix = (t: QualifiedTable): string => (t.schema === 'public' ? t.name : `${t.schema}_${t.name}`);

interface CompileCtx {
  role: string;
  session: SessionVariables;
  params: unknown[];
  /** Permission filters read session variables; a caller's `where` is literal and obeys the role's permissions. */
  mode: 'permission' | 'where';
}

export class PermissionEngine {
  private tables: Map<string, TableInfo> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly tableMetas: readonly TableMeta[],
    private readonly inheritedRoles: ReadonlyMap<string, readonly string[]>,
  ) {}

  /** Loads columns and foreign keys once (tables may be created after the harness, e.g. by a test's migration). */
  private async load(): Promise<Map<string, TableInfo>> {
    if (this.tables) return this.tables;
    const cols = await this.pool.query<{ schema: string; table: string; name: string; type: string }>(
      `SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, t.typname AS type
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND (n.nspname || '.' || c.relname) = ANY($1)
        ORDER BY n.nspname, c.relname, a.attnum`,
      [this.tableMetas.map((m) => key(m.table))],
    );
    const fks = await this.pool.query<{ ss: string; st: string; sc: string[]; ts: string; tt: string; tc: string[] }>(
      `SELECT sn.nspname AS ss, sc.relname AS st, tn.nspname AS ts, tc.relname AS tt,
              ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS sc,
              ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS tc
         FROM pg_constraint c
         JOIN pg_class sc ON sc.oid = c.conrelid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
         JOIN pg_class tc ON tc.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        WHERE c.contype = 'f'`,
    );
    const foreignKeys: ForeignKey[] = fks.rows.map((r) => ({ src: { schema: r.ss, name: r.st }, srcCols: r.sc, tgt: { schema: r.ts, name: r.tt }, tgtCols: r.tc }));
    const tables = new Map<string, TableInfo>();
    for (const meta of this.tableMetas) {
      const columns = cols.rows.filter((c) => c.schema === meta.table.schema && c.table === meta.table.name).map((c) => ({ name: c.name, type: c.type }));
      if (columns.length === 0) throw new HarnessConfigError(`tracked table ${key(meta.table)} does not exist in the database`);
      const relationships = new Map<string, Relationship>();
      for (const r of meta.object_relationships ?? []) relationships.set(r.name, resolveRelationship(meta.table, r, 'object', foreignKeys));
      for (const r of meta.array_relationships ?? []) relationships.set(r.name, resolveRelationship(meta.table, r, 'array', foreignKeys));
      tables.set(key(meta.table), { table: meta.table, meta, columns, relationships });
    }
    this.tables = tables;
    return tables;
  }

  private async info(t: QualifiedTable): Promise<TableInfo> {
    const info = (await this.load()).get(key(qualify(t)));
    if (!info) throw new HarnessConfigError(`table ${key(qualify(t))} is not tracked in the metadata`);
    return info;
  }

  private checkRole(role: string): void {
    if (this.inheritedRoles.has(role)) throw new HarnessUnsupportedError(`role "${role}" is an inherited role; the harness does not combine table permissions of inherited roles`);
  }

  private selectPermission(info: TableInfo, role: string) {
    return info.meta.select_permissions?.find((p) => p.role === role)?.permission;
  }

  /** Whether `role` has a select permission on `table` at all (without one Hasura does not expose the table). */
  async hasSelectPermission(role: string, table: QualifiedTable): Promise<boolean> {
    if (role === 'admin') return true;
    this.checkRole(role);
    return this.selectPermission(await this.info(table), role) !== undefined;
  }

  /** The rows `role` sees in `table`, only with its permitted columns, as Hasura's JSON (`row_to_json`). */
  async select(session: SessionVariables, table: QualifiedTable, where?: Record<string, unknown>, opts: { orderBy?: string[] } = {}): Promise<Record<string, unknown>[]> {
    const role = roleOf(session);
    const info = await this.info(table);
    let columns = info.columns.map((c) => c.name);
    let filter = 'true';
    let limit = '';
    const ctx: CompileCtx = { role, session, params: [], mode: 'permission' };
    if (role !== 'admin') {
      this.checkRole(role);
      const perm = this.selectPermission(info, role);
      if (!perm) return [];
      if (perm.columns !== '*') columns = perm.columns;
      filter = await this.compile(perm.filter ?? {}, info, 't0', ctx);
      if (perm.limit !== undefined) limit = ` LIMIT ${Number(perm.limit)}`;
    }
    const userWhere = where ? await this.compile(where, info, 't0', { ...ctx, mode: 'where' }) : 'true';
    for (const c of opts.orderBy ?? []) if (!columns.includes(c)) throw new HasuraError(`field "${c}" not found in type: '${typePrefix(info.table)}_order_by'`, 'validation-failed');
    const order = opts.orderBy?.length ? ` ORDER BY ${opts.orderBy.map((c) => `t0.${ident(c)}`).join(', ')}` : '';
    const sql = `SELECT row_to_json(r) AS row FROM (SELECT ${columns.map((c) => `t0.${ident(c)}`).join(', ')} FROM ${qualified(info.table)} t0 WHERE (${filter}) AND (${userWhere})${order}${limit}) r`;
    const res = await this.pool.query<{ row: Record<string, unknown> }>(sql, ctx.params);
    return res.rows.map((r) => r.row);
  }

  /**
   * Whether `role` may insert `row`: only permitted columns, presets applied, and the check evaluated on the
   * inserted row inside a transaction that is always rolled back (Hasura checks the row it just inserted).
   */
  async insertAllowed(session: SessionVariables, table: QualifiedTable, row: Record<string, unknown>): Promise<{ allowed: boolean; reason?: string }> {
    const role = roleOf(session);
    const info = await this.info(table);
    const names = info.columns.map((c) => c.name);
    const values: Record<string, unknown> = { ...row };
    let check = 'true';
    const ctx: CompileCtx = { role, session, params: [], mode: 'permission' };
    if (role !== 'admin') {
      this.checkRole(role);
      const perm = info.meta.insert_permissions?.find((p) => p.role === role)?.permission;
      if (!perm) return { allowed: false, reason: `field "insert_${typePrefix(info.table)}" not found in type: 'mutation_root'` };
      const presets = perm.set ?? {};
      const permitted = (perm.columns === '*' || perm.columns === undefined ? names : perm.columns).filter((c) => !(c in presets));
      for (const k of Object.keys(row)) {
        if (!permitted.includes(k)) return { allowed: false, reason: `field "${k}" not found in type: '${typePrefix(info.table)}_insert_input'` };
      }
      for (const [c, v] of Object.entries(presets)) values[c] = this.value(v, ctx);
      check = await this.compile(perm.check ?? {}, info, 't0', ctx);
    }
    for (const k of Object.keys(values)) if (!names.includes(k)) return { allowed: false, reason: `field "${k}" not found in type: '${typePrefix(info.table)}_insert_input'` };
    const cols = Object.keys(values);
    const placeholders = cols.map((c) => {
      ctx.params.push(values[c]);
      return `$${ctx.params.length}`;
    });
    const insert = cols.length
      ? `INSERT INTO ${qualified(info.table)} (${cols.map(ident).join(', ')}) VALUES (${placeholders.join(', ')}) RETURNING *`
      : `INSERT INTO ${qualified(info.table)} DEFAULT VALUES RETURNING *`;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const res = await client.query<{ ok: boolean }>(`WITH t0 AS (${insert}) SELECT (${check}) AS ok FROM t0`, ctx.params);
      return res.rows[0]?.ok ? { allowed: true } : { allowed: false, reason: 'check constraint of an insert/update permission has failed' };
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  /**
   * Compiles a boolean expression on `table` (rows aliased `alias`) to SQL, appending its values to `params`.
   * `mode: 'permission'` reads `X-Hasura-*` values from the session; `'where'` treats values literally and
   * keeps relationship traversal inside the role's select permission (a client's `where`).
   */
  async compileBoolExp(exp: unknown, table: QualifiedTable, alias: string, session: SessionVariables, params: unknown[], mode: 'permission' | 'where'): Promise<string> {
    const info = await this.info(table);
    const ctx: CompileCtx = { role: roleOf(session), session, params, mode };
    return this.compile(exp, info, alias, ctx);
  }

  /** A permission value (`X-Hasura-*` read from the session), as inserted by presets. */
  sessionValue(v: unknown, session: SessionVariables): unknown {
    return this.value(v, { role: roleOf(session), session, params: [], mode: 'permission' });
  }

  /* ------------------------------------------------------------------ compiler */

  /** A permission value: `X-Hasura-*` strings are read from the session (missing → Hasura's error). */
  private value(v: unknown, ctx: CompileCtx): unknown {
    try {
      return sessionValue(v, ctx.mode === 'permission' ? ctx.session : null);
    } catch (e) {
      throw harnessError(e);
    }
  }

  private async compile(exp: unknown, info: TableInfo, alias: string, ctx: CompileCtx): Promise<string> {
    const tables = await this.load();
    const tableInfo = (t: QualifiedTable): TableInfo => {
      const found = tables.get(key(qualify(t)));
      if (!found) throw new HarnessConfigError(`table ${key(qualify(t))} is not tracked in the metadata`);
      return found;
    };
    const schema = (mode: CompileCtx['mode']): BoolExpSchema<TableInfo> => ({
      sql: (t) => qualified(t.table),
      relationship: (t, name) => {
        const rel = t.relationships.get(name);
        if (!rel) return undefined;
        const target = tableInfo(rel.target);
        // Through a relationship, a caller's where only reaches rows the role may select in the target table.
        if (mode !== 'where' || ctx.role === 'admin') return { target, mapping: rel.mapping };
        const perm = this.selectPermission(target, ctx.role);
        if (!perm) throw new HasuraError(`field "${name}" not found in type: '${typePrefix(t.table)}_bool_exp'`, 'validation-failed');
        return { target, mapping: rel.mapping, guard: (a) => compileBoolExp(perm.filter ?? {}, target, a, options('permission')) };
      },
      column: (t, name) => {
        const col = t.columns.find((c) => c.name === name);
        if (!col) throw new HasuraError(`field "${name}" not found in type: '${typePrefix(t.table)}_bool_exp'`, 'validation-failed');
        if (mode === 'where' && ctx.role !== 'admin') {
          const perm = this.selectPermission(t, ctx.role);
          if (perm && perm.columns !== '*' && !perm.columns.includes(name)) throw new HasuraError(`field "${name}" not found in type: '${typePrefix(t.table)}_bool_exp'`, 'validation-failed');
        }
        return col;
      },
      table: (name) => tableInfo(qualify(name as QualifiedTable)),
    });
    const options = (mode: CompileCtx['mode']): BoolExpOptions<TableInfo> => ({
      schema: schema(mode),
      params: ctx.params,
      session: mode === 'permission' ? ctx.session : null,
      unsupportedBy: 'the harness',
    });
    try {
      return compileBoolExp(exp, info, alias, options(ctx.mode));
    } catch (e) {
      throw harnessError(e);
    }
  }
}

/** The shared compiler's refusals as the harness reports them: Hasura's error, or "not supported by the harness". */
function harnessError(e: unknown): unknown {
  if (!(e instanceof BoolExpError)) return e;
  return e.code === 'unsupported' ? new HarnessUnsupportedError(e.message) : new HasuraError(e.message, e.code);
}

export function resolveRelationship(table: QualifiedTable, r: RelationshipMeta, kind: 'object' | 'array', fks: ForeignKey[]): Relationship {
  const what = `${kind} relationship ${r.name} on ${key(table)}`;
  const same = (a: QualifiedTable, b: QualifiedTable) => a.schema === b.schema && a.name === b.name;
  const sameCols = (a: string[], b: string[]) => a.length === b.length && a.every((c) => b.includes(c));
  const manual = r.using.manual_configuration;
  if (manual) return { name: r.name, target: qualify(manual.remote_table), mapping: Object.entries(manual.column_mapping) };
  const fk = r.using.foreign_key_constraint_on;
  if (fk === undefined) throw new HarnessUnsupportedError(`${what}: only foreign_key_constraint_on and manual_configuration are supported`);
  if (typeof fk === 'string' || Array.isArray(fk)) {
    // This table holds the foreign key.
    const cols = typeof fk === 'string' ? [fk] : fk;
    const c = fks.find((f) => same(f.src, table) && sameCols(f.srcCols, cols));
    if (!c) throw new HarnessConfigError(`${what}: no foreign key on (${cols.join(', ')})`);
    return { name: r.name, target: c.tgt, mapping: c.srcCols.map((s, i) => [s, c.tgtCols[i]!]) };
  }
  // The remote table holds the foreign key pointing at this one.
  const remote = qualify(fk.table);
  const cols = fk.columns ?? (fk.column ? [fk.column] : []);
  const c = fks.find((f) => same(f.src, remote) && same(f.tgt, table) && sameCols(f.srcCols, cols));
  if (!c) throw new HarnessConfigError(`${what}: no foreign key on ${key(remote)} (${cols.join(', ')}) referencing ${key(table)}`);
  return { name: r.name, target: remote, mapping: c.tgtCols.map((t, i) => [t, c.srcCols[i]!]) };
}
