/**
 * The development stand-in for Hasura's `/v1/graphql`: the harness (actions, event triggers, crons, async
 * actions, permissions) plus tracked tables as GraphQL, over HTTP and `graphql-transport-ws`. It is for local
 * development and end-to-end tests only; production runs behind the real Hasura.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createHasuraHarness, type HarnessOptions, type HasuraHarness } from '../testing/harness.js';
import { metadataFromJson } from '../testing/metadata.js';
import { Authenticator, AuthError, type AuthOptions } from './auth.js';
import { loadRemoteSchemas, type LoadedRemoteSchemas } from './remote-schemas.js';
import { Executor, hasuraError, rawResultBody, toGraphQLError, type GraphQLRequest } from './execute.js';
import { HarnessConfigError } from '../testing/errors.js';
import { qualify, type QualifiedTable } from '../testing/metadata.js';
import { loadFunctions, loadModel, tableKey, type TableModel } from './model.js';
import { SchemaBuilder, type ActionRelationship } from './schema.js';
import { CronScheduler } from './crons.js';
import { Subscriptions, serveSubscriptions, type SubscriptionOptions } from './subscriptions.js';

export const GRAPHQL_PATH = '/v1/graphql';

export interface DevEndpointOptions {
  databaseUrl: string;
  /** Hasura metadata in its JSON form (`export_metadata`; a composed or user project read as JSON). */
  metadata: Record<string, unknown>;
  /** Base URL of the handler server (fills `{{NSELF_PLUGINS_URL}}`). */
  handlerBaseUrl?: string;
  /** Hasura's environment for `{{ENV}}` templates and `value_from_env` headers. */
  env?: Record<string, string | undefined>;
  auth?: AuthOptions;
  subscriptions?: SubscriptionOptions;
  /** Passed to the harness (event, cron and async-action intervals…). */
  harness?: Partial<Omit<HarnessOptions, 'databaseUrl' | 'metadata' | 'metadataDir' | 'handlerBaseUrl' | 'env'>>;
  /** Largest request body accepted (default 10 MiB). */
  bodyLimitBytes?: number;
  /** Create cron events on wall time (default false: tests fire crons through the harness). */
  cronScheduler?: boolean;
}

export interface DevEndpoint {
  readonly harness: HasuraHarness;
  readonly executor: Executor;
  readonly subscriptions: Subscriptions;
  readonly auth: Authenticator;
  readonly crons: CronScheduler;
  /** Metadata the endpoint cannot serve, each named (remote schemas, tracked functions, …). */
  readonly unsupported: string[];
  /** Serves `/v1/graphql` (POST) and `/v1/version`; answers false for any other path. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Takes over WebSocket upgrades of `/v1/graphql` on `server`. */
  attach(server: http.Server): void;
  /** A server of its own (tests): `/v1/graphql` only. */
  listen(port?: number, host?: string): Promise<{ url: string; port: number; server: http.Server }>;
  close(): Promise<void>;
}

/** What the metadata holds that this endpoint does not serve; listed at start, never silently ignored. */
export function unsupportedMetadata(json: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const s of (json.sources as { name: string }[] | undefined) ?? []) {
    for (const t of (s as { tables?: { table: { name: string; schema?: string }; computed_fields?: unknown[]; remote_relationships?: unknown[] }[] }).tables ?? []) {
      if (t.computed_fields?.length) out.push(`computed fields of table ${t.table.schema ?? 'public'}.${t.table.name}`);
      if (t.remote_relationships?.length) out.push(`remote relationships of table ${t.table.schema ?? 'public'}.${t.table.name}`);
    }
  }
  for (const r of (json.inherited_roles as { role_name: string }[] | undefined) ?? []) out.push(`inherited role "${r.role_name}" (requests as it are refused)`);
  return out;
}

/** `custom_types.objects[].relationships` resolved to tracked tables. */
function actionRelationships(json: Record<string, unknown>, models: ReadonlyMap<string, TableModel>): Map<string, ActionRelationship[]> {
  const out = new Map<string, ActionRelationship[]>();
  const objects = ((json.custom_types as { objects?: { name: string; relationships?: Record<string, unknown>[] }[] } | undefined)?.objects ?? []);
  const problems: string[] = [];
  for (const o of objects) {
    for (const r of o.relationships ?? []) {
      const name = String(r.name);
      const t = qualify(r.remote_table as QualifiedTable | string);
      const model = models.get(tableKey(t));
      const mapping = Object.entries((r.field_mapping ?? {}) as Record<string, string>);
      if (!model) problems.push(`action relationship ${o.name}.${name}: table ${t.schema}.${t.name} is not tracked`);
      else if (!mapping.length || mapping.some(([, c]) => !model.byName.has(c))) problems.push(`action relationship ${o.name}.${name}: field_mapping must map output fields to columns of ${t.schema}.${t.name}`);
      else out.set(o.name, [...(out.get(o.name) ?? []), { name, kind: r.type === 'array' ? 'array' : 'object', table: model, mapping }]);
    }
  }
  if (problems.length) throw new HarnessConfigError(`inconsistent metadata:\n  ${problems.join('\n  ')}`);
  return out;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function createDevEndpoint(opts: DevEndpointOptions): Promise<DevEndpoint> {
  const auth = new Authenticator(opts.auth ?? {});
  const harness = await createHasuraHarness({
    ...opts.harness,
    databaseUrl: opts.databaseUrl,
    metadata: metadataFromJson(opts.metadata),
    ...(opts.handlerBaseUrl !== undefined ? { handlerBaseUrl: opts.handlerBaseUrl } : {}),
    env: opts.env ?? {},
  });
  let models: Map<string, TableModel>;
  let schemas: SchemaBuilder;
  let remote: LoadedRemoteSchemas;
  try {
    // As for actions: the handler server's URL stands in for NSELF_PLUGINS_URL unless the environment sets it.
    const remoteEnv: Record<string, string | undefined> = { ...(opts.handlerBaseUrl !== undefined ? { NSELF_PLUGINS_URL: opts.handlerBaseUrl } : {}), ...opts.env };
    remote = await loadRemoteSchemas(opts.metadata, remoteEnv, remoteEnv.HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS === 'true');
    const source = harness.metadata.sources.find((s) => s.name === (opts.harness?.source ?? 'default')) ?? (harness.metadata.sources.length === 1 ? harness.metadata.sources[0] : undefined);
    models = await loadModel(harness.pool, source);
    const functions = await loadFunctions(harness.pool, source, models);
    schemas = new SchemaBuilder(models, harness.engines.actions, new Map(harness.metadata.inheritedRoles.map((r) => [r.role_name, r.role_set])), actionRelationships(opts.metadata, models), functions, remote.models);
    for (const role of schemas.roles()) schemas.forRole(role);
  } catch (e) {
    await harness.close();
    throw e;
  }
  const remoteRoots = new Map<string, string>();
  for (const r of (opts.metadata.remote_schemas as { name: string; definition?: { customization?: { root_fields_namespace?: string } } }[] | undefined) ?? []) {
    const ns = r.definition?.customization?.root_fields_namespace;
    if (ns) remoteRoots.set(ns, r.name);
  }
  const executor = new Executor(harness, schemas, models, remoteRoots, new Map(remote.models.map((m) => [m.name, m])));
  const subscriptions = new Subscriptions(executor, opts.subscriptions);
  const wss = new WebSocketServer({ noServer: true });
  const ws = serveSubscriptions(wss, executor, auth, subscriptions);
  const crons = new CronScheduler(harness);
  if (opts.cronScheduler) crons.start();
  const limit = opts.bodyLimitBytes ?? 10 * 1024 * 1024;
  const servers = new Set<http.Server>();

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req, limit);
    if (body === null) return send(res, 413, JSON.stringify({ path: '$', error: `request body exceeds ${limit} bytes`, code: 'payload-too-large' }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      return send(res, 400, JSON.stringify({ path: '$', error: `Error in $: ${(e as Error).message}`, code: 'parse-failed' }));
    }
    let session;
    try {
      session = await auth.authenticate(req.headers);
    } catch (e) {
      if (e instanceof AuthError) return send(res, 200, JSON.stringify({ errors: [hasuraError(e.message, e.code)] }));
      throw e;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const one = async (r: unknown): Promise<string> => {
      if (!r || typeof r !== 'object' || Array.isArray(r)) return JSON.stringify({ errors: [hasuraError('expected a GraphQL request object {query, variables, operationName}', 'parse-failed')] });
      return rawResultBody(await executor.execute(r as GraphQLRequest, session, headers));
    };
    // Hasura accepts a batch (a JSON array of requests) and answers an array.
    if (Array.isArray(parsed)) return send(res, 200, `[${(await Promise.all(parsed.map(one))).join(',')}]`);
    send(res, 200, await one(parsed));
  }

  /** `{query: {query, variables, operationName}, user: {x-hasura-role, …}}`, admin only, as in Hasura. */
  async function explain(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req, limit);
    let session;
    try {
      session = await auth.authenticate(req.headers);
    } catch (e) {
      if (e instanceof AuthError) return send(res, 400, JSON.stringify({ path: '$', error: e.message, code: e.code }));
      throw e;
    }
    if (session['x-hasura-role'] !== 'admin') return send(res, 400, JSON.stringify({ path: '$', error: 'restricted access : admin only', code: 'access-denied' }));
    let parsed: { query?: GraphQLRequest; user?: Record<string, string> };
    try {
      parsed = JSON.parse(body ?? '');
    } catch (e) {
      return send(res, 400, JSON.stringify({ path: '$', error: `Error in $: ${(e as Error).message}`, code: 'parse-failed' }));
    }
    const user = Object.fromEntries(Object.entries(parsed.user ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const r = await executor.explain(parsed.query ?? { query: '' }, { 'x-hasura-role': 'admin', ...user });
    send(res, 'errors' in r ? 400 : 200, JSON.stringify(r));
  }

  const endpoint: DevEndpoint = {
    harness,
    executor,
    subscriptions,
    auth,
    crons,
    unsupported: [...remote.unsupported, ...unsupportedMetadata(opts.metadata)],
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0];
      // Hasura allows every origin unless HASURA_GRAPHQL_CORS_DOMAIN narrows it: browser apps served from another
      // origin (a Vite dev server) call it directly, so the stand-in answers preflights the same way.
      if (path === GRAPHQL_PATH || path === '/v1/version') {
        const origin = req.headers.origin;
        if (origin) {
          res.setHeader('access-control-allow-origin', origin);
          res.setHeader('access-control-allow-credentials', 'true');
          res.setHeader('vary', 'Origin');
        }
        if (req.method === 'OPTIONS') {
          res.writeHead(204, {
            'access-control-allow-methods': 'GET,POST,OPTIONS',
            'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'content-type,authorization',
            'access-control-max-age': '1728000',
          });
          res.end();
          return true;
        }
      }
      if (path === '/v1/version' && req.method === 'GET') {
        send(res, 200, JSON.stringify({ version: 'v2-compatible (nself-plugins dev stand-in)', server_type: 'nself-plugins-dev' }));
        return true;
      }
      if (path === `${GRAPHQL_PATH}/explain` && req.method === 'POST') {
        explain(req, res).catch((e) => {
          if (!res.headersSent) send(res, 500, JSON.stringify({ path: '$', error: (e as Error).message, code: 'unexpected' }));
        });
        return true;
      }
      if (path !== GRAPHQL_PATH) return false;
      if (req.method !== 'POST') {
        send(res, 405, JSON.stringify({ path: '$', error: `${req.method} is not allowed on ${GRAPHQL_PATH}; POST a GraphQL request`, code: 'method-not-allowed' }));
        return true;
      }
      serve(req, res).catch((e) => {
        if (!res.headersSent) send(res, 200, JSON.stringify({ errors: [toGraphQLError(e, 'user')] }));
      });
      return true;
    },
    attach(server) {
      server.on('upgrade', (req, socket, head) => {
        if ((req.url ?? '').split('?')[0] !== GRAPHQL_PATH) return;
        wss.handleUpgrade(req, socket, head, (client) => wss.emit('connection', client, req));
      });
    },
    async listen(port = 0, host = '127.0.0.1') {
      const server = http.createServer((req, res) => {
        if (!endpoint.handle(req, res)) send(res, 404, JSON.stringify({ path: '$', error: `no route ${req.method} ${req.url}`, code: 'not-found' }));
      });
      endpoint.attach(server);
      servers.add(server);
      await new Promise<void>((resolve) => server.listen(port, host, resolve));
      const addr = server.address() as AddressInfo;
      return { url: `http://${host}:${addr.port}`, port: addr.port, server };
    },
    async close() {
      await crons.stop();
      subscriptions.close();
      for (const c of wss.clients) c.terminate();
      await Promise.resolve(ws.dispose()).catch(() => undefined);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      await harness.close();
    },
  };
  return endpoint;
}
