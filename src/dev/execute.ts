/**
 * Executes GraphQL requests against a role's schema: parse and validate as Hasura does, then one SQL statement
 * per root field on tables (mutations in one transaction carrying the session in `hasura.user`, as event
 * triggers expect), actions through the harness's action engine, introspection through graphql-js.
 */
import {
  Kind,
  execute as executeGraphQL,
  getNamedType,
  getVariableValues,
  isObjectType,
  parse,
  print,
  validate,
  type DocumentNode,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import pg from 'pg';
import type { HasuraHarness } from '../testing/harness.js';
import { HarnessConfigError, HarnessUnsupportedError, HasuraError } from '../testing/errors.js';
import { roleOf, type SessionInput, type SessionVariables } from '../testing/session.js';
import { collectFields, fragmentsOf, subDocument, type Fragments } from './ast.js';
import { objectTypeOf, SqlCompiler, type Statement } from './compile.js';
import type { TableModel } from './model.js';
import type { RoleSchema, RootField, SchemaBuilder } from './schema.js';
import { runActionFields } from './action-fields.js';
import { forwardToRemote, type RemoteSchemaModel } from './remote-schemas.js';
import { GraphQLFailure, hasuraError, type GraphQLErrorJson } from './errors.js';


export interface GraphQLRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/** A result whose `data` values are JSON text (as PostgreSQL built it), so numbers keep their precision. */
/** Data as JSON texts per response key; errors beside data come from remote schemas (as Hasura passes them on). */
export type RawResult = { data: [string, string][]; errors?: GraphQLErrorJson[] } | { errors: GraphQLErrorJson[]; data?: undefined };

export function rawResultBody(r: RawResult): string {
  if (!r.data) return JSON.stringify({ errors: r.errors });
  const data = `"data":{${r.data.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  return r.errors?.length ? `{${data},"errors":${JSON.stringify(r.errors)}}` : `{${data}}`;
}


/** A checked operation, ready to run (again, for live queries). */
export interface Prepared {
  rs: RoleSchema;
  doc: DocumentNode;
  op: OperationDefinitionNode;
  fragments: Fragments;
  vars: Record<string, unknown>;
  rawVariables: Record<string, unknown>;
  session: SessionVariables;
  fields: Map<string, FieldNode[]>;
  roots: Map<string, RootField>;
  rootType: GraphQLObjectType;
  query: string;
}

/** PostgreSQL errors as Hasura reports them (Hasura/Backends/Postgres/Execute/Types.hs `mkTxErrorHandler`). */
export function databaseError(e: pg.DatabaseError, role: string): GraphQLErrorJson {
  const code = e.code ?? '';
  const msg = e.message;
  let out: GraphQLErrorJson | undefined;
  if (code.startsWith('23')) {
    const prefix: Record<string, string> = {
      '23001': 'Can not delete or update due to data being referred. ',
      '23502': 'Not-NULL violation. ',
      '23503': 'Foreign key violation. ',
      '23505': 'Uniqueness violation. ',
      '23514': 'Check constraint violation. ',
      '23P01': 'Exclusion violation. ',
    };
    out = hasuraError((prefix[code] ?? '') + msg, code === '23514' ? 'permission-error' : 'constraint-violation');
  } else if (code === '22025') out = hasuraError(msg, 'bad-request');
  else if (code.startsWith('22')) out = hasuraError(msg, 'data-exception');
  else if (code === '42P10') out = hasuraError('there is no unique or exclusion constraint on target column(s)', 'constraint-error');
  if (out) return out;
  const err = hasuraError('database query error', 'unexpected');
  // Hasura shows the detail to admin (and in dev mode) only.
  if (role === 'admin') err.extensions.internal = { error: { message: msg, status_code: code, description: e.detail ?? null } };
  return err;
}

export function toGraphQLError(e: unknown, role: string): GraphQLErrorJson {
  if (e instanceof HasuraError) return hasuraError(e.message, e.code, e.path);
  if (e instanceof HarnessUnsupportedError) return hasuraError(`not supported by nself-plugins dev: ${e.message}`, 'not-supported');
  if (e instanceof HarnessConfigError) return hasuraError(e.message, 'unexpected');
  if (e instanceof pg.DatabaseError) return databaseError(e, role);
  if (e && typeof e === 'object' && 'errors' in e) return (e as { errors: GraphQLErrorJson[] }).errors[0]!;
  const err = hasuraError('internal error', 'unexpected');
  if (role === 'admin') err.extensions.internal = String((e as Error)?.message ?? e);
  return err;
}

interface Checked {
  doc: DocumentNode;
  op: OperationDefinitionNode;
  fragments: Fragments;
  rootType: GraphQLObjectType;
}

/** Hasura's own "field not found" check, with its message and path, before graphql-js validation. */
function findMissingField(set: SelectionSetNode, type: GraphQLObjectType, fragments: Fragments, path: string, seen: Set<string>): GraphQLErrorJson | undefined {
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      const name = sel.name.value;
      if (name === '__typename' || name === '__schema' || name === '__type') continue;
      const f = type.getFields()[name];
      const here = `${path}.selectionSet.${name}`;
      if (!f) return hasuraError(`field "${name}" not found in type: '${type.name}'`, 'validation-failed', here);
      const nt = getNamedType(f.type);
      if (sel.selectionSet && isObjectType(nt)) {
        const r = findMissingField(sel.selectionSet, nt, fragments, here, seen);
        if (r) return r;
      }
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const r = findMissingField(sel.selectionSet, type, fragments, path, seen);
      if (r) return r;
    } else {
      const f = fragments[sel.name.value];
      if (f && !seen.has(f.name.value)) {
        const r = findMissingField(f.selectionSet, type, fragments, path, new Set(seen).add(f.name.value));
        if (r) return r;
      }
    }
  }
  return undefined;
}

/** Maps a session's variables back to the harness's session input (`withSession`). */
function sessionInput(session: SessionVariables): SessionInput {
  const { 'x-hasura-role': role, ...rest } = session;
  return { role: role ?? 'admin', ...rest };
}

export class Executor {
  constructor(
    readonly harness: HasuraHarness,
    readonly schemas: SchemaBuilder,
    readonly models: ReadonlyMap<string, TableModel>,
    /** Root field names that belong to a remote schema (its `root_fields_namespace`), refused by name. */
    readonly remoteRoots: ReadonlyMap<string, string> = new Map(),
    /** Remote schemas whose root fields the role schemas hold, by name. */
    readonly remotes: ReadonlyMap<string, RemoteSchemaModel> = new Map(),
  ) {}

  private readonly checked = new Map<string, Checked | GraphQLFailure>();

  private check(req: GraphQLRequest, rs: RoleSchema, allowSubscription: boolean): Checked | GraphQLFailure {
    let doc: DocumentNode;
    try {
      doc = parse(req.query);
    } catch {
      return new GraphQLFailure([hasuraError('not a valid graphql query', 'validation-failed', '$.query')]);
    }
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const op = req.operationName ? ops.find((o) => o.name?.value === req.operationName) : ops.length === 1 ? ops[0] : undefined;
    if (!op) {
      return new GraphQLFailure([
        hasuraError(req.operationName ? `no such operation found in the document: "${req.operationName}"` : 'exactly one operation has to be present in the document when operationName is not specified', 'validation-failed'),
      ]);
    }
    if (op.operation === 'subscription' && !allowSubscription) {
      return new GraphQLFailure([hasuraError('subscriptions are not supported over HTTP, use websockets instead', 'validation-failed')]);
    }
    const schema: GraphQLSchema = rs.schema;
    const rootType = op.operation === 'mutation' ? schema.getMutationType() : op.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType();
    if (!rootType) return new GraphQLFailure([hasuraError(op.operation === 'mutation' ? 'no mutations exist' : 'no subscriptions exist', 'validation-failed')]);
    const fragments = fragmentsOf(doc);
    for (const sel of op.selectionSet.selections) {
      const remote = sel.kind === Kind.FIELD ? this.remoteRoots.get(sel.name.value) : undefined;
      if (remote) return new GraphQLFailure([hasuraError(`not supported by nself-plugins dev: field "${(sel as FieldNode).name.value}" belongs to remote schema "${remote}", which is not served`, 'not-supported', `$.selectionSet.${(sel as FieldNode).name.value}`)]);
    }
    const missing = findMissingField(op.selectionSet, rootType, fragments, '$', new Set());
    if (missing) return new GraphQLFailure([missing]);
    const invalid = validate(schema, doc);
    if (invalid.length) {
      const message = this.explainInvalid(invalid[0]!.message);
      return new GraphQLFailure([hasuraError(message, message.startsWith('not supported by nself-plugins dev') ? 'not-supported' : 'validation-failed')]);
    }
    return { doc, op, fragments, rootType };
  }

  /** Parses, picks the operation and validates it against the role's schema. */
  prepare(req: GraphQLRequest, session: SessionVariables, allowSubscription: boolean): Prepared | GraphQLFailure {
    const role = roleOf(session);
    let rs: RoleSchema;
    try {
      rs = this.schemas.forRole(role);
    } catch (e) {
      return new GraphQLFailure([toGraphQLError(e, role)]);
    }
    if (typeof req.query !== 'string') return new GraphQLFailure([hasuraError('the key "query" was not present', 'parse-failed')]);
    // Parsing and validation depend only on the role's schema and the document: checked once, as Hasura caches plans.
    const cacheKey = `${role}\u0000${req.operationName ?? ''}\u0000${allowSubscription ? 's' : ''}\u0000${req.query}`;
    let checked = this.checked.get(cacheKey);
    if (!checked) {
      checked = this.check(req, rs, allowSubscription);
      if (this.checked.size >= 1000) this.checked.delete(this.checked.keys().next().value!);
      this.checked.set(cacheKey, checked);
    }
    if (checked instanceof GraphQLFailure) return checked;
    const { doc, op, fragments, rootType } = checked;
    const schema = rs.schema;
    const rawVariables = req.variables ?? {};
    const coerced = getVariableValues(schema, op.variableDefinitions ?? [], rawVariables);
    if (coerced.errors) return new GraphQLFailure([hasuraError(coerced.errors[0]!.message, 'validation-failed')]);
    const roots = op.operation === 'mutation' ? rs.mutation : op.operation === 'subscription' ? rs.subscription : rs.query;
    return {
      rs,
      doc,
      op,
      fragments,
      vars: coerced.coerced,
      rawVariables,
      session,
      fields: collectFields(op.selectionSet, fragments, coerced.coerced),
      roots,
      rootType,
      query: req.query,
    };
  }

  /** graphql-js reports an unknown input field; when it is a relationship in an insert input, say what is missing. */
  private explainInvalid(message: string): string {
    const m = /^Field "(\w+)" is not defined by type "(\w+)_insert_input"/.exec(message);
    if (m) {
      for (const t of this.models.values()) {
        if (t.typeName === m[2] && t.relationships.has(m[1]!)) return `not supported by nself-plugins dev: nested inserts through relationship "${m[1]}" of "${t.typeName}"; insert the related rows with their own mutation`;
      }
    }
    return message;
  }

  /** Runs an HTTP request (query or mutation). */
  async execute(req: GraphQLRequest, session: SessionVariables, headers: Record<string, string> = {}): Promise<RawResult> {
    const p = this.prepare(req, session, false);
    if (p instanceof GraphQLFailure) return { errors: p.errors };
    return this.run(p, headers);
  }

  async run(p: Prepared, headers: Record<string, string> = {}): Promise<RawResult> {
    const role = roleOf(p.session);
    const errors: GraphQLErrorJson[] = [];
    try {
      const data = p.op.operation === 'mutation' ? await this.mutate(p, headers, errors) : await this.read(p, headers, errors);
      return errors.length ? { data, errors } : { data };
    } catch (e) {
      if (e instanceof GraphQLFailure) return { errors: e.errors };
      return { errors: [toGraphQLError(e, role)] };
    }
  }

  private async introspect(p: Prepared, keys: string[]): Promise<Map<string, string>> {
    const nodes = keys.flatMap((k) => p.fields.get(k)!);
    const doc = subDocument({ ...p.op, operation: 'query' as never }, nodes, p.fragments);
    const r = await executeGraphQL({ schema: p.rs.schema, document: doc, variableValues: p.rawVariables });
    if (r.errors?.length) throw new GraphQLFailure([hasuraError(r.errors[0]!.message, 'validation-failed')]);
    return new Map(keys.map((k) => [k, JSON.stringify((r.data as Record<string, unknown>)[k] ?? null)]));
  }

  private actions(p: Prepared, keys: string[], headers: Record<string, string>): Promise<Map<string, string>> {
    return runActionFields(this, p, keys, headers);
  }

  /**
   * Root fields of remote schemas, forwarded as one request per remote schema (with the fragments and variables
   * they use). A remote's errors are passed on beside the data; a remote that cannot be reached fails the request.
   */
  private async remoteFields(p: Prepared, keys: string[], headers: Record<string, string>, errors: GraphQLErrorJson[]): Promise<Map<string, string>> {
    const byRemote = new Map<string, string[]>();
    for (const k of keys) {
      const root = p.roots.get(p.fields.get(k)![0]!.name.value) as { kind: 'remote'; remote: string };
      byRemote.set(root.remote, [...(byRemote.get(root.remote) ?? []), k]);
    }
    const out = new Map<string, string>();
    await Promise.all(
      [...byRemote].map(async ([name, ks]) => {
        const m = this.remotes.get(name)!;
        const doc = subDocument(p.op, ks.flatMap((k) => p.fields.get(k)!), p.fragments);
        const used = new Set((doc.definitions[0] as OperationDefinitionNode).variableDefinitions?.map((v) => v.variable.name.value) ?? []);
        const variables = Object.fromEntries(Object.entries(p.rawVariables).filter(([k]) => used.has(k)));
        let r;
        try {
          r = await forwardToRemote(m, { query: print(doc), variables, ...(p.op.name ? { operationName: p.op.name.value } : {}) }, p.session, headers);
        } catch (e) {
          throw new HasuraError(`http exception when calling remote schema "${name}": ${(e as Error).message}`, 'unexpected');
        }
        for (const k of ks) out.set(k, JSON.stringify(r.data?.[k] ?? null));
        for (const err of r.errors ?? []) errors.push(err as unknown as GraphQLErrorJson);
      }),
    );
    return out;
  }

  /** Queries and live-query refetches: one statement per table root field, run concurrently. */
  async read(p: Prepared, headers: Record<string, string> = {}, errors: GraphQLErrorJson[] = []): Promise<[string, string][]> {
    const out = new Map<string, string>();
    const introspection: string[] = [];
    const actions: string[] = [];
    const remote: string[] = [];
    const work: Promise<void>[] = [];
    for (const [key, nodes] of p.fields) {
      const name = nodes[0]!.name.value;
      if (name === '__typename') {
        out.set(key, JSON.stringify(p.rootType.name));
        continue;
      }
      if (name === '__schema' || name === '__type') {
        introspection.push(key);
        continue;
      }
      const root = p.roots.get(name);
      if (!root) throw new GraphQLFailure([hasuraError(`field "${name}" not found in type: '${p.rootType.name}'`, 'validation-failed', `$.selectionSet.${name}`)]);
      if (root.kind === 'action') {
        actions.push(key);
        continue;
      }
      if (root.kind === 'remote') {
        remote.push(key);
        continue;
      }
      if (root.kind === 'select_stream') throw new GraphQLFailure([hasuraError('streaming subscriptions run over websockets only', 'validation-failed')]);
      work.push(
        (async () => {
          const { sql, params } = await this.compileRead(p, nodes, root);
          const r = await this.harness.pool.query<{ root: string | null }>(sql, params);
          out.set(key, r.rows[0]?.root ?? 'null');
        })(),
      );
    }
    if (introspection.length) for (const [k, v] of await this.introspect(p, introspection)) out.set(k, v);
    if (actions.length) work.push(this.actions(p, actions, headers).then((m) => void m.forEach((v, k) => out.set(k, v))));
    if (remote.length) work.push(this.remoteFields(p, remote, headers, errors).then((m) => void m.forEach((v, k) => out.set(k, v))));
    const settled = await Promise.allSettled(work);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return [...p.fields.keys()].map((k) => [k, out.get(k)!]);
  }

  /** The one statement of a select, by-pk or aggregate root field. */
  private async compileRead(p: Prepared, nodes: FieldNode[], root: RootField): Promise<{ sql: string; params: unknown[] }> {
    const c = new SqlCompiler(this.harness.engines.permissions, p.session, p.vars, p.fragments);
    const def = p.rootType.getFields()[nodes[0]!.name.value]!;
    const args = c.args(def, nodes[0]!);
    const type = objectTypeOf(def);
    const t = (root as { table: TableModel }).table;
    let expr: string;
    if (root.kind === 'function' || root.kind === 'function_aggregate') {
      const from = c.functionCall(root.fn, args);
      expr = root.kind === 'function' ? await c.list(t, type, args, nodes, undefined, from) : await c.aggregate(t, type, args, nodes, undefined, from);
    } else expr = root.kind === 'select' ? await c.list(t, type, args, nodes) : root.kind === 'select_by_pk' ? await c.byPk(t, type, args, nodes) : await c.aggregate(t, type, args, nodes);
    return { sql: `SELECT (${expr})::text AS root`, params: c.params };
  }

  /**
   * Hasura's `/v1/graphql/explain`: the SQL of each table root field of a query (with its parameters here,
   * where Hasura inlines them) and PostgreSQL's plan.
   */
  async explain(req: GraphQLRequest, session: SessionVariables): Promise<{ field: string; sql: string; params: unknown[]; plan: string[] }[] | { errors: GraphQLErrorJson[] }> {
    const p = this.prepare(req, session, true);
    if (p instanceof GraphQLFailure) return { errors: p.errors };
    const out: { field: string; sql: string; params: unknown[]; plan: string[] }[] = [];
    try {
      for (const [key, nodes] of p.fields) {
        const root = p.roots.get(nodes[0]!.name.value);
        if (!root || root.kind === 'action' || root.kind === 'select_stream' || !['select', 'select_by_pk', 'select_aggregate', 'function', 'function_aggregate'].includes(root.kind)) continue;
        const { sql, params } = await this.compileRead(p, nodes, root);
        const plan = await this.harness.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
        out.push({ field: key, sql, params, plan: plan.rows.map((r) => r['QUERY PLAN']) });
      }
    } catch (e) {
      return { errors: [toGraphQLError(e, roleOf(session))] };
    }
    return out;
  }

  /** Mutations: root fields in order, table writes in one transaction with the session in `hasura.user`. */
  private async mutate(p: Prepared, headers: Record<string, string>, errors: GraphQLErrorJson[]): Promise<[string, string][]> {
    const out: [string, string][] = [];
    await this.harness.withSession(sessionInput(p.session), async (client) => {
      for (const [key, nodes] of p.fields) {
        const name = nodes[0]!.name.value;
        if (name === '__typename') {
          out.push([key, JSON.stringify(p.rootType.name)]);
          continue;
        }
        const root = p.roots.get(name)!;
        if (root.kind === 'action') {
          const m = await this.actions(p, [key], headers);
          out.push([key, m.get(key)!]);
          continue;
        }
        if (root.kind === 'remote') {
          // Outside the transaction's control, as in Hasura: the remote server commits on its own.
          const m = await this.remoteFields(p, [key], headers, errors);
          out.push([key, m.get(key)!]);
          continue;
        }
        const def = p.rootType.getFields()[name]!;
        const type = objectTypeOf(def);
        const compile = () => new SqlCompiler(this.harness.engines.permissions, p.session, p.vars, p.fragments);
        const args = compile().args(def, nodes[0]!);
        const runOne = async (s: Statement): Promise<string> => {
          const r = await client.query<{ root: string | null; violations: number }>(s.sql, s.params);
          if (s.checked && (r.rows[0]?.violations ?? 0) > 0) throw new HasuraError('check constraint of an insert/update permission has failed', 'permission-error');
          return r.rows[0]?.root ?? 'null';
        };
        const t = (root as { table: TableModel }).table;
        switch (root.kind) {
          case 'insert':
          case 'insert_one':
            out.push([key, await runOne(await compile().insert(t, type, args, nodes, root.kind === 'insert_one'))]);
            break;
          case 'update':
          case 'update_by_pk':
            out.push([key, await runOne(await compile().update(t, type, args, nodes, root.kind === 'update_by_pk'))]);
            break;
          case 'update_many': {
            const results: string[] = [];
            for (const u of (args.updates as Record<string, unknown>[]) ?? []) results.push(await runOne(await compile().update(t, type, u, nodes, false)));
            out.push([key, `[${results.join(',')}]`]);
            break;
          }
          case 'delete':
          case 'delete_by_pk':
            out.push([key, await runOne(await compile().delete(t, type, args, nodes, root.kind === 'delete_by_pk'))]);
            break;
          case 'function': {
            const { sql, params } = await this.compileRead(p, nodes, root);
            const r = await client.query<{ root: string | null }>(sql, params);
            out.push([key, r.rows[0]?.root ?? 'null']);
            break;
          }
          default:
            throw new HasuraError(`field "${name}" not found in type: 'mutation_root'`, 'validation-failed');
        }
      }
    });
    return out;
  }
}

export { GraphQLFailure, hasuraError, type GraphQLErrorJson };

