/**
 * Actions as Hasura serves them: a per-role GraphQL schema built from `actions.graphql` (plus Hasura's PG
 * scalars), the webhook call with Hasura's body and headers, its response checks and error mapping, and async
 * actions through `hdb_catalog.hdb_action_log` (reference/hasura.md §1).
 */
import {
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  buildSchema,
  execute,
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getNullableType,
  isObjectType,
  parse,
  print,
  validate,
  type DocumentNode,
  type FieldDefinitionNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  getVariableValues,
} from 'graphql';
import type pg from 'pg';
import { HASURA_SCALAR_NAMES, SCALAR_PARSE_FAILED, hasuraScalarTypes } from '../core/hasura-scalars.js';
import { projectActionResponse, validateActionResponse, type Selected } from './action-output.js';
import { defaultHeaders } from './delivery.js';
import { HarnessConfigError, HarnessUnsupportedError, HasuraError } from './errors.js';
import type { HeaderList, HttpClient } from './http.js';
import { sortedJson } from './json.js';
import { resolveHeaders, resolveTemplate, type ActionMeta, type HasuraMetadata, type HeaderConf } from './metadata.js';
import { roleOf, type SessionVariables } from './session.js';
import { Sleeper } from './sleeper.js';
import { formatUtcTimestamp } from './events.js';

export interface GraphQLErrorJson {
  message: string;
  extensions?: unknown;
}

export interface GraphQLResult<D = Record<string, unknown>> {
  data?: D;
  errors?: GraphQLErrorJson[];
}

export interface ResolvedAction {
  name: string;
  meta: ActionMeta;
  root: 'query' | 'mutation';
  async: boolean;
  url: string;
  headers: HeaderList;
  timeoutSec: number;
  field: FieldDefinitionNode;
  roles: Set<string>;
}

/** A failed call as Hasura's QErr: message, code, and either handler `extensions` (verbatim) or `internal` detail. */
interface ActionFailure {
  message: string;
  code: string;
  extensions?: unknown;
  internal?: unknown;
}

type CallResult = { ok: true; value: unknown } | { ok: false; failure: ActionFailure };

/** Client headers Hasura never forwards to an action handler (Server/Utils.hs `commonClientHeadersIgnored`). */
const IGNORED_CLIENT_HEADERS = new Set(
  ['Content-Length', 'Content-MD5', 'User-Agent', 'Host', 'Origin', 'Referer', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Accept-Datetime', 'Cache-Control', 'Connection', 'DNT', 'Content-Type'].map((h) => h.toLowerCase()),
);

function forwardedClientHeaders(headers: Record<string, string>): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'host') out.push(['X-Forwarded-Host', value]);
    else if (lower === 'user-agent') out.push(['X-Forwarded-User-Agent', value]);
    else if (lower === 'origin') out.push(['X-Forwarded-Origin', value]);
    if (IGNORED_CLIENT_HEADERS.has(lower) || lower.startsWith('x-hasura-')) continue;
    out.push([name, value]);
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function hasuraError(message: string, code: string, path = '$'): GraphQLErrorJson {
  return { message, extensions: { path, code } };
}

export class ActionEngine {
  readonly actions = new Map<string, ResolvedAction>();
  /** Relationships declared on output types (custom_types.objects[].relationships), which the harness cannot join. */
  private readonly relationships = new Map<string, Set<string>>();
  private readonly typeDefs: string;
  private readonly schemas = new Map<string, GraphQLSchema>();
  private readonly sleeper = new Sleeper();
  private running = false;
  private loop: Promise<void> | undefined;
  private processing = 0;

  constructor(
    meta: HasuraMetadata,
    env: Readonly<Record<string, string | undefined>>,
    private readonly inheritedRoles: ReadonlyMap<string, readonly string[]>,
    private readonly pool: pg.Pool,
    private readonly http: HttpClient,
    private readonly opts: { hasuraVersion: string; adminInternalErrors: boolean; devMode: boolean; fetchIntervalMs: number; onError(e: unknown): void },
  ) {
    let doc: DocumentNode;
    try {
      doc = parse(meta.actionsSdl.trim() ? meta.actionsSdl : 'scalar _NoActions');
    } catch (e) {
      throw new HarnessConfigError(`actions.graphql does not parse: ${(e as Error).message}`);
    }
    const rootFields = new Map<string, { root: 'query' | 'mutation'; field: FieldDefinitionNode }>();
    const kept: string[] = [];
    const declared = new Set<string>();
    for (const def of doc.definitions) {
      if ((def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) && (def.name.value === 'Query' || def.name.value === 'Mutation')) {
        for (const f of def.fields ?? []) rootFields.set(f.name.value, { root: def.name.value === 'Query' ? 'query' : 'mutation', field: f });
        continue;
      }
      if (def.kind === Kind.SCHEMA_DEFINITION || def.kind === Kind.SCHEMA_EXTENSION) continue;
      if (def.kind === Kind.SCALAR_TYPE_DEFINITION && def.name.value === '_NoActions') continue;
      if ('name' in def && def.name) declared.add(def.name.value);
      kept.push(print(def));
    }
    const scalars = HASURA_SCALAR_NAMES.filter((n) => !declared.has(n)).map((n) => `scalar ${n}`);
    this.typeDefs = [...kept, ...scalars].join('\n\n');

    for (const o of (meta.customTypes.objects ?? []) as { name: string; relationships?: { name: string }[] }[]) {
      if (o.relationships?.length) this.relationships.set(o.name, new Set(o.relationships.map((r) => r.name)));
    }
    const problems: string[] = [];
    for (const a of meta.actions) {
      if (a.definition.request_transform || a.definition.response_transform) problems.push(`action ${a.name}: request/response transforms are not supported by the harness`);
      const rf = rootFields.get(a.name);
      if (!rf) {
        problems.push(`action ${a.name}: no field "${a.name}" in type Query or Mutation of actions.graphql`);
        continue;
      }
      const isAsync = a.definition.kind === 'asynchronous';
      if (isAsync && rf.root === 'query') problems.push(`action ${a.name}: queries cannot be asynchronous`);
      try {
        this.actions.set(a.name, {
          name: a.name,
          meta: a,
          root: rf.root,
          async: isAsync,
          url: resolveTemplate(a.definition.handler, env, `action ${a.name}`),
          headers: resolveHeaders(a.definition.headers, env, `action ${a.name}`),
          timeoutSec: a.definition.timeout ?? 30,
          field: rf.field,
          roles: new Set((a.permissions ?? []).map((p) => p.role)),
        });
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    for (const name of rootFields.keys()) if (!meta.actions.some((a) => a.name === name)) problems.push(`actions.graphql field "${name}" has no action in actions.yaml`);
    if (problems.length) throw new HarnessConfigError(`inconsistent actions metadata:\n  ${problems.join('\n  ')}`);
    this.schemaFor('admin');
  }

  private allowed(a: ResolvedAction, role: string): boolean {
    if (role === 'admin' || a.roles.has(role)) return true;
    return (this.inheritedRoles.get(role) ?? []).some((r) => a.roles.has(r));
  }

  /** The type definitions of `actions.graphql` plus Hasura's PG scalars it does not declare. */
  get sdlTypes(): string {
    return this.typeDefs;
  }

  /** The root fields (SDL lines) and extra types `role` gets from the actions it may call; async results included. */
  rootFieldsFor(role: string): { query: string[]; mutation: string[]; types: string[] } {
    const q: string[] = [];
    const m: string[] = [];
    const asyncTypes: string[] = [];
    for (const a of this.actions.values()) {
      if (!this.allowed(a, role)) continue;
      if (a.root === 'query') q.push(print(a.field));
      else if (!a.async) m.push(print(a.field));
      else {
        const args = a.field.arguments?.length ? `(${a.field.arguments.map((x) => print(x)).join(', ')})` : '';
        m.push(`${a.name}${args}: uuid!`);
        q.push(`${a.name}(id: uuid!): ${a.name}`);
        const out = a.field.type.kind === Kind.NON_NULL_TYPE ? a.field.type.type : a.field.type;
        asyncTypes.push(`type ${a.name} {\n  id: uuid!\n  created_at: timestamptz!\n  errors: json\n  output: ${print(out)}\n}`);
      }
    }
    return { query: q, mutation: m, types: asyncTypes };
  }

  /** The schema `role` sees: only the actions it has permission for (absent fields, exactly as Hasura). */
  schemaFor(role: string): GraphQLSchema {
    const cached = this.schemas.get(role);
    if (cached) return cached;
    const { query: q, mutation: m, types: asyncTypes } = this.rootFieldsFor(role);
    // Hasura keeps query_root valid for roles that can query nothing with this placeholder field.
    if (q.length === 0) q.push('no_queries_available: String!');
    const sdl = [
      this.typeDefs,
      ...asyncTypes,
      `type query_root {\n  ${q.join('\n  ')}\n}`,
      m.length ? `type mutation_root {\n  ${m.join('\n  ')}\n}` : '',
      `schema {\n  query: query_root${m.length ? '\n  mutation: mutation_root' : ''}\n}`,
    ].join('\n\n');
    let schema: GraphQLSchema;
    try {
      schema = buildSchema(sdl);
    } catch (e) {
      throw new HarnessConfigError(`actions.graphql does not build a schema: ${(e as Error).message}`);
    }
    for (const s of hasuraScalarTypes()) {
      const t = schema.getType(s.name);
      if (t && t.constructor === s.constructor) Object.assign(t, { parseValue: s.parseValue, parseLiteral: s.parseLiteral, serialize: s.serialize });
    }
    this.schemas.set(role, schema);
    return schema;
  }

  /* ------------------------------------------------------------------ execution */

  async execute(
    document: string,
    variables: Record<string, unknown> | undefined,
    session: SessionVariables,
    opts: { operationName?: string; headers?: Record<string, string>; requestQuery?: string } = {},
  ): Promise<GraphQLResult> {
    const role = roleOf(session);
    const schema = this.schemaFor(role);
    let doc: DocumentNode;
    try {
      doc = parse(document);
    } catch {
      return { errors: [hasuraError('not a valid graphql query', 'validation-failed', '$.query')] };
    }
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const op = opts.operationName ? ops.find((o) => o.name?.value === opts.operationName) : ops.length === 1 ? ops[0] : undefined;
    if (!op) {
      return {
        errors: [
          hasuraError(
            opts.operationName ? `no such operation found in the document: "${opts.operationName}"` : 'exactly one operation has to be present in the document when operationName is not specified',
            'validation-failed',
          ),
        ],
      };
    }
    if (op.operation === 'subscription') return { errors: [hasuraError('subscriptions are not supported over HTTP, use websockets instead', 'validation-failed')] };
    const rootType = op.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType();
    if (!rootType) return { errors: [hasuraError('no mutations exist', 'validation-failed')] };
    const fragments = Object.fromEntries(
      doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
    );
    const missing = findMissingField(op.selectionSet, rootType, fragments, '$', new Set(), this.relationships);
    if (missing) return { errors: [missing] };
    const invalid = validate(schema, doc);
    if (invalid.length) return { errors: [hasuraError(invalid[0]!.message, errorCode(invalid[0]!))] };
    const coerced = getVariableValues(schema, op.variableDefinitions ?? [], variables ?? {});
    if (coerced.errors) return { errors: [hasuraError(coerced.errors[0]!.message, errorCode(coerced.errors[0]!))] };
    const vars = coerced.coerced;
    const fields = collectFields(op.selectionSet, fragments, vars);

    const introspection = [...fields.values()].every((n) => n[0]!.name.value.startsWith('__'));
    if (introspection && [...fields.values()].some((n) => n[0]!.name.value !== '__typename')) {
      const r = await execute({ schema, document: doc, variableValues: variables, operationName: opts.operationName });
      return { data: r.data as Record<string, unknown> };
    }

    const run = async ([key, nodes]: [string, FieldNode[]]): Promise<[string, unknown]> => {
      const name = nodes[0]!.name.value;
      if (name === '__typename') return [key, rootType.name];
      const fieldDef = rootType.getFields()[name]!;
      let args: Record<string, unknown>;
      try {
        args = getArgumentValues(fieldDef, nodes[0]!, vars);
      } catch (e) {
        throw new HasuraError((e as Error).message, errorCode(e));
      }
      const action = this.actions.get(name)!;
      const selection = selectionFor(fieldDef, nodes, fragments, vars);
      if (op.operation === 'query' && action.async) {
        // The action id is parsed by Hasura's own `uuid` parser (strict), unlike a `uuid` action argument.
        if (typeof args.id !== 'string' || !UUID.test(args.id)) throw new HasuraError('invalid UUID', 'parse-failed', `$.selectionSet.${key}.args.id`);
        return [key, await this.asyncResult(action, args.id, session, fieldDef, selection)];
      }
      if (action.async) return [key, await this.enqueue(action, args, session, opts.headers ?? {})];
      const res = await this.call(action, args, session, opts.requestQuery ?? document, opts.headers ?? {}, fieldDef.type);
      if (!res.ok) throw res.failure;
      return [key, projectActionResponse(res.value, fieldDef.type, selection)];
    };

    const entries = [...fields.entries()];
    try {
      const data: Record<string, unknown> = {};
      if (op.operation === 'mutation') {
        for (const e of entries) {
          const [k, v] = await run(e);
          data[k] = v;
        }
      } else {
        for (const [k, v] of await Promise.all(entries.map(run))) data[k] = v;
      }
      return { data };
    } catch (e) {
      if (e instanceof HasuraError) return { errors: [hasuraError(e.message, e.code, e.path)] };
      if (isFailure(e)) return { errors: [this.toGraphQLError(e, role)] };
      throw e;
    }
  }

  /** Hasura's `shouldIncludeInternal`: every role in dev mode, otherwise admin only (HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS, on by default). */
  private showsInternal(role: string): boolean {
    return this.opts.devMode || (this.opts.adminInternalErrors && role === 'admin');
  }

  private toGraphQLError(f: ActionFailure, role: string): GraphQLErrorJson {
    if (f.extensions !== undefined) return { message: f.message, extensions: f.extensions };
    const ext: Record<string, unknown> = { path: '$', code: f.code };
    if (f.internal !== undefined && this.showsInternal(role)) ext.internal = f.internal;
    return { message: f.message, extensions: ext };
  }

  /**
   * An async action's stored `errors` as `role` reads them: `hdb_action_log.errors` keeps `internal` (request,
   * response), which only roles allowed internal errors see (server/tests-py/test_actions.py,
   * `test_async_actions_error_response_user_role` / `_admin_role`).
   */
  private visibleErrors(errors: unknown, role: string): unknown {
    if (!isPlainObject(errors) || !('internal' in errors) || this.showsInternal(role)) return errors;
    const { internal: _hidden, ...rest } = errors;
    return rest;
  }

  /** POSTs the action payload and applies Hasura's response rules. */
  private async call(
    a: ResolvedAction,
    input: Record<string, unknown>,
    session: SessionVariables,
    requestQuery: string | null,
    clientHeaders: Record<string, string>,
    outputType: GraphQLOutputType,
  ): Promise<CallResult> {
    const body = { action: { name: a.name }, input, session_variables: session, request_query: requestQuery };
    const forwarded = a.meta.definition.forward_client_headers ? forwardedClientHeaders(clientHeaders) : [];
    const headers: HeaderList = [...a.headers, ...defaultHeaders(this.opts.hasuraVersion), ...forwarded];
    // Hasura's ActionRequestInfo (Execute/Action/Types.hs): the handler as written in metadata (its template,
    // never the resolved URL), the body sent, the configured and forwarded headers, and the transformed request
    // (`null`: the harness refuses request transforms).
    const requestInfo = { url: a.meta.definition.handler, body, headers: loggedHeaders(a.meta.definition.headers, forwarded), transformed_request: null };
    const result = await this.http.post(a.url, headers, sortedJson(body), a.timeoutSec * 1000);
    const fail = (message: string, code: string, internal?: unknown): CallResult => ({ ok: false, failure: { message, code, internal } });
    if (result.kind === 'error') {
      return fail('http exception when calling webhook', 'unexpected', { error: { type: 'http_exception', message: result.message }, request: requestInfo, response: null });
    }
    const responseInfo = (b: unknown) => ({ status: result.status, body: b, headers: result.headers.map(([name, value]) => ({ name, value })) });
    let json: unknown;
    try {
      json = JSON.parse(result.body);
    } catch (e) {
      return fail('not a valid json response from webhook', 'unexpected', { error: `invalid json: ${(e as Error).message}`, request: requestInfo, response: responseInfo(result.body) });
    }
    const unexpectedResponse = { error: 'unexpected response', request: requestInfo, response: responseInfo(json) };
    if (result.status >= 200 && result.status < 300) {
      try {
        validateActionResponse(json, outputType);
      } catch (e) {
        if (e instanceof HasuraError) return fail(e.message, e.code, unexpectedResponse);
        throw e;
      }
      return { ok: true, value: json };
    }
    if (result.status >= 400 && result.status < 500) {
      if (!isPlainObject(json)) return fail('Error in $: expected Object', 'parse-failed', unexpectedResponse);
      if (typeof json.message !== 'string') return fail(`Error in $: key "message" ${'message' in json ? 'must be a String' : 'not found'}`, 'parse-failed', unexpectedResponse);
      if (json.code !== undefined && json.code !== null && typeof json.code !== 'string') return fail('Error in $.code: expected Text', 'parse-failed', unexpectedResponse);
      const failure: ActionFailure = { message: json.message, code: typeof json.code === 'string' ? json.code : 'unexpected' };
      // `extensions: null` decodes as absent (an optional field).
      if (json.extensions !== undefined && json.extensions !== null) failure.extensions = json.extensions;
      return { ok: false, failure };
    }
    return fail('internal error', 'unexpected', { error: `expecting 2xx or 4xx status code, but found ${result.status}`, request: requestInfo, response: responseInfo(json) });
  }

  private asyncOutputType(a: ResolvedAction) {
    const t = this.schemaFor('admin').getType(a.name) as GraphQLObjectType;
    return t.getFields().output!.type;
  }

  /* ------------------------------------------------------------------ async actions */

  private async enqueue(a: ResolvedAction, input: Record<string, unknown>, session: SessionVariables, headers: Record<string, string>): Promise<string> {
    const r = await this.pool.query<{ id: string }>(
      `INSERT INTO hdb_catalog.hdb_action_log (action_name, session_variables, request_headers, input_payload, status)
       VALUES ($1, $2, $3, $4, 'created') RETURNING id`,
      [a.name, JSON.stringify(session), JSON.stringify(headers), JSON.stringify(input)],
    );
    this.sleeper.wake();
    return r.rows[0]!.id;
  }

  private async asyncResult(a: ResolvedAction, id: string, session: SessionVariables, fieldDef: GraphQLField<unknown, unknown>, selection: Selected[]): Promise<unknown> {
    const row = await this.pool.query<{ id: string; created_at: string; response_payload: unknown; errors: unknown; session_variables: unknown }>(
      `SELECT id, (created_at AT TIME ZONE 'UTC')::text AS created_at, response_payload, errors, session_variables
         FROM hdb_catalog.hdb_action_log WHERE id = $1 AND action_name = $2`,
      [id, a.name],
    );
    const r = row.rows[0];
    // Non-admin roles only see the results of actions started with an identical session.
    if (!r || (roleOf(session) !== 'admin' && sortedJson(r.session_variables) !== sortedJson(session))) return null;
    const outputType = (getNamedType(fieldDef.type) as GraphQLObjectType).getFields().output!.type;
    const out: Record<string, unknown> = {};
    for (const s of selection) {
      if (s.field === '__typename') out[s.key] = a.name;
      else if (s.field === 'id') out[s.key] = r.id;
      else if (s.field === 'created_at') out[s.key] = formatUtcTimestamp(r.created_at);
      else if (s.field === 'errors') out[s.key] = this.visibleErrors(r.errors, roleOf(session));
      else if (s.field === 'output') out[s.key] = r.response_payload === null ? null : projectActionResponse(r.response_payload, outputType, s.sub ?? [], false);
    }
    return out;
  }

  /** The result of an async action as stored: `{id, created_at, errors, output}` (output unprojected). */
  async asyncActionResult(id: string): Promise<{ id: string; created_at: string; errors: unknown; output: unknown; status: string } | null> {
    const row = await this.pool.query<{ id: string; created_at: string; response_payload: unknown; errors: unknown; status: string }>(
      `SELECT id, (created_at AT TIME ZONE 'UTC')::text AS created_at, response_payload, errors, status FROM hdb_catalog.hdb_action_log WHERE id = $1`,
      [id],
    );
    const r = row.rows[0];
    return r ? { id: r.id, created_at: formatUtcTimestamp(r.created_at), errors: r.errors, output: r.response_payload, status: r.status } : null;
  }

  start(): void {
    if (this.running || ![...this.actions.values()].some((a) => a.async)) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const n = await this.processAsync().catch((e) => (this.opts.onError(e), 0));
        if (n === 0) await this.sleeper.sleep(this.opts.fetchIntervalMs);
      }
    })();
  }

  wake(): void {
    this.sleeper.wake();
  }

  /** Changes whenever an async pass starts or ends. */
  epoch = 0;

  busy(): boolean {
    return this.processing > 0;
  }

  /** Hasura's async processor: claim up to 10 created rows, call their handlers, store output or error (no retry). */
  async processAsync(): Promise<number> {
    this.processing++;
    this.epoch++;
    try {
      const claimed = await this.pool.query<{ id: string; action_name: string; request_headers: Record<string, string>; session_variables: SessionVariables; input_payload: Record<string, unknown> }>(
        `UPDATE hdb_catalog.hdb_action_log SET status = 'processing'
          WHERE id IN (SELECT id FROM hdb_catalog.hdb_action_log WHERE status = 'created' AND action_name = ANY($1)
                       FOR UPDATE SKIP LOCKED LIMIT 10)
          RETURNING id, action_name, request_headers, session_variables, input_payload`,
        [[...this.actions.keys()]],
      );
      await Promise.all(
        claimed.rows.map(async (row) => {
          const a = this.actions.get(row.action_name)!;
          const res = await this.call(a, row.input_payload, row.session_variables, null, row.request_headers, this.asyncOutputType(a));
          if (res.ok) {
            await this.pool.query(`UPDATE hdb_catalog.hdb_action_log SET response_payload = $1, status = 'completed' WHERE id = $2`, [JSON.stringify(res.value), row.id]);
          } else {
            const f = res.failure;
            const qerr: Record<string, unknown> = { path: '$', error: f.message, code: f.code };
            if (f.extensions === undefined && f.internal !== undefined) qerr.internal = f.internal;
            await this.pool.query(`UPDATE hdb_catalog.hdb_action_log SET errors = $1, status = 'error' WHERE id = $2`, [JSON.stringify(qerr), row.id]);
          }
        }),
      );
      return claimed.rows.length;
    } finally {
      this.processing--;
      this.epoch++;
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sleeper.wake();
    await this.loop;
  }
}

/** `parse-failed` when a PostgreSQL scalar refused the value (directly or as the cause), else `validation-failed`. */
function errorCode(e: unknown): string {
  for (let x = e; x instanceof GraphQLError; x = x.originalError) {
    if (x.extensions?.code === SCALAR_PARSE_FAILED) return SCALAR_PARSE_FAILED;
  }
  return 'validation-failed';
}

function isFailure(e: unknown): e is ActionFailure {
  return isPlainObject(e) && typeof e.message === 'string' && typeof e.code === 'string' && !(e instanceof Error);
}

function loggedHeaders(configured: HeaderConf[] | undefined, forwarded: HeaderList): unknown[] {
  return [...(configured ?? []).map((h) => (h.value_from_env !== undefined ? { name: h.name, value_from_env: h.value_from_env } : { name: h.name, value: h.value })), ...forwarded.map(([name, value]) => ({ name, value }))];
}

/* ------------------------------------------------------------------ selection sets */

type Fragments = Record<string, FragmentDefinitionNode>;

function included(node: { directives?: readonly unknown[] }, vars: Record<string, unknown>): boolean {
  const n = node as Parameters<typeof getDirectiveValues>[1];
  if (getDirectiveValues(GraphQLSkipDirective, n, vars)?.if === true) return false;
  if (getDirectiveValues(GraphQLIncludeDirective, n, vars)?.if === false) return false;
  return true;
}

/** Fields by response key, through fragments, honouring @skip/@include. */
function collectFields(set: SelectionSetNode, fragments: Fragments, vars: Record<string, unknown>, out = new Map<string, FieldNode[]>(), seen = new Set<string>()): Map<string, FieldNode[]> {
  for (const sel of set.selections) {
    if (!included(sel, vars)) continue;
    if (sel.kind === Kind.FIELD) {
      const key = sel.alias?.value ?? sel.name.value;
      out.set(key, [...(out.get(key) ?? []), sel]);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      collectFields(sel.selectionSet, fragments, vars, out, seen);
    } else {
      const f = fragments[sel.name.value];
      if (f && !seen.has(f.name.value)) collectFields(f.selectionSet, fragments, vars, out, new Set(seen).add(f.name.value));
    }
  }
  return out;
}

function selectionFor(fieldDef: GraphQLField<unknown, unknown>, nodes: FieldNode[], fragments: Fragments, vars: Record<string, unknown>): Selected[] {
  const type = getNamedType(fieldDef.type);
  if (!isObjectType(type)) return [];
  const merged = new Map<string, FieldNode[]>();
  for (const n of nodes) if (n.selectionSet) collectFields(n.selectionSet, fragments, vars, merged);
  return [...merged.entries()].map(([key, fnodes]) => {
    const name = fnodes[0]!.name.value;
    if (name === '__typename') return { key, field: name, sub: null };
    const def = type.getFields()[name]!;
    const nt = getNamedType(getNullableType(def.type));
    return isObjectType(nt) ? { key, field: name, sub: selectionFor(def, fnodes, fragments, vars), typename: nt.name } : { key, field: name, sub: null };
  });
}

/** Hasura's own check that every selected field exists for this role, with its message and JSON path. */
function findMissingField(
  set: SelectionSetNode,
  type: GraphQLObjectType,
  fragments: Fragments,
  path: string,
  seen: Set<string>,
  relationships: ReadonlyMap<string, Set<string>>,
): GraphQLErrorJson | undefined {
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      const name = sel.name.value;
      if (name === '__typename' || name === '__schema' || name === '__type') continue;
      const f = type.getFields()[name];
      const here = `${path}.selectionSet.${name}`;
      if (!f && relationships.get(type.name)?.has(name)) throw new HarnessUnsupportedError(`${type.name}.${name} is an action relationship to a table; the harness does not join them`);
      if (!f) return hasuraError(`field "${name}" not found in type: '${type.name}'`, 'validation-failed', here);
      const nt = getNamedType(f.type);
      if (sel.selectionSet && isObjectType(nt)) {
        const r = findMissingField(sel.selectionSet, nt, fragments, here, seen, relationships);
        if (r) return r;
      }
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const r = findMissingField(sel.selectionSet, type, fragments, path, seen, relationships);
      if (r) return r;
    } else {
      const f = fragments[sel.name.value];
      if (f && !seen.has(f.name.value)) {
        const r = findMissingField(f.selectionSet, type, fragments, path, new Set(seen).add(f.name.value), relationships);
        if (r) return r;
      }
    }
  }
  return undefined;
}
