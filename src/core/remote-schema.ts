/**
 * Plugins' own GraphQL endpoints, added to Hasura as remote schemas (`remote_schemas.yaml`, composed from the
 * manifests' `remoteSchema`) and served here at `POST /remote-schemas/<plugin>`.
 *
 * Hasura sends the configured headers (our shared secret) and the resolved session as `x-hasura-*` headers
 * (docs: remote-schemas/auth/remote-schema-forward-auth); the secret is the trust boundary, checked before
 * the body is read. Introspection when the remote schema is added carries no session: a request without
 * `x-hasura-role` runs as admin, as anything holding the secret could.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { graphql, GraphQLError, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { ActionError } from './errors.js';
import { SECRET_HEADER } from './dispatch.js';
import { secretMatcher } from './secret.js';
import { pgDataError } from './data-errors.js';
import { errorForLog } from './logger.js';
import { describeUnstorable, findUnstorable } from './unstorable.js';
import type { RemoteSchemaContext, Session } from './plugin.js';
import type { ServerRuntime } from './runtime.js';

// The check every Hasura-facing route shares; re-exported where it used to live.
export { secretMatcher } from './secret.js';

/** The session Hasura forwards as `x-hasura-*` headers (keys lower-cased, values strings). */
export function sessionFromHeaders(headers: IncomingHttpHeaders): Session {
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (!key.startsWith('x-hasura-') || key === 'x-hasura-admin-secret') continue;
    variables[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  variables['x-hasura-role'] ??= 'admin';
  return Object.freeze({ role: variables['x-hasura-role'], userId: variables['x-hasura-user-id'] ?? null, variables: Object.freeze(variables) });
}

interface GraphQLRequestBody {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

function parseRequest(body: unknown): GraphQLRequestBody | string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'the body must be a JSON object with a "query"';
  const b = body as Record<string, unknown>;
  if (typeof b.query !== 'string' || b.query.length === 0) return '"query" must be a non-empty string';
  if (b.variables !== undefined && b.variables !== null && (typeof b.variables !== 'object' || Array.isArray(b.variables))) return '"variables" must be an object';
  if (b.operationName !== undefined && b.operationName !== null && typeof b.operationName !== 'string') return '"operationName" must be a string';
  return b as unknown as GraphQLRequestBody;
}

/**
 * Errors as clients see them: an `ActionError` thrown by a resolver keeps its message and extensions (as an
 * action's 4xx does); GraphQL's own errors (syntax, validation, variables) keep theirs; anything else is an
 * "internal error" whose detail goes only to the log.
 */
function formatError(e: GraphQLError, onInternal: (err: unknown) => void): GraphQLFormattedError {
  const original = e.originalError;
  if (original instanceof ActionError) {
    return { message: original.message, ...(e.path ? { path: e.path } : {}), extensions: original.extensions };
  }
  const data = pgDataError(original);
  if (data) {
    return { message: `invalid value: ${data.message}`, ...(e.path ? { path: e.path } : {}), extensions: { code: 'invalid-input', sqlState: data.code } };
  }
  if (original && !(original instanceof GraphQLError)) {
    onInternal(original);
    return { message: 'internal error', ...(e.path ? { path: e.path } : {}), extensions: { code: 'internal' } };
  }
  return e.toJSON();
}

/** The express router serving every enabled plugin's remote schema; schemas are built once, here. */
export function remoteSchemaRouter(runtime: ServerRuntime): express.Router {
  const router = express.Router();
  const schemas = new Map<string, GraphQLSchema>();
  for (const p of runtime.plugins) if (p.remoteSchema) schemas.set(p.name, p.remoteSchema.schema());
  if (schemas.size === 0) return router;
  const secretOk = secretMatcher(runtime.webhookSecret);
  const observers = new Map([...schemas.keys()].map((p) => [p, runtime.metrics.observer('remote-schema', p)]));

  router.post(
    '/remote-schemas/:plugin',
    (req, res, next) => {
      const plugin = String(req.params.plugin);
      if (!schemas.has(plugin)) {
        res.status(404).json({ errors: [{ message: `no remote schema of plugin "${plugin.slice(0, 100)}"`, extensions: { code: 'not-found' } }] });
        return;
      }
      // Before the body is read: an unauthenticated caller gets nothing held for it.
      if (!secretOk(req.headers[SECRET_HEADER])) {
        runtime.log.warn({ plugin }, 'remote schema request rejected: missing or wrong %s header', SECRET_HEADER);
        res.set('connection', 'close').status(401).json({ errors: [{ message: `missing or wrong ${SECRET_HEADER} header`, extensions: { code: 'unauthorized' } }] });
        return;
      }
      next();
    },
    express.json({ limit: runtime.core.BODY_LIMIT_BYTES, type: () => true }),
    async (req, res) => {
      const started = performance.now();
      const plugin = String(req.params.plugin);
      const observe = observers.get(plugin)!;
      const parsed = parseRequest(req.body);
      if (typeof parsed === 'string') {
        observe(400, (performance.now() - started) / 1000);
        res.status(400).json({ errors: [{ message: parsed, extensions: { code: 'invalid-request' } }] });
        return;
      }
      const bad = findUnstorable({ query: parsed.query, variables: parsed.variables ?? null });
      if (bad) {
        observe(400, (performance.now() - started) / 1000);
        res.status(400).json({ errors: [{ message: describeUnstorable(bad), extensions: { code: 'invalid-input' } }] });
        return;
      }
      const given = req.headers['x-request-id'];
      const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
      const session = sessionFromHeaders(req.headers);
      const ctx = runtime.contextFor(plugin, {
        session,
        requestId,
        receipt: { kind: 'action', handler: `remote-schema:${plugin}` },
        bindings: { kind: 'remote-schema', name: plugin },
      }) as RemoteSchemaContext;
      let result: ExecutionResult;
      try {
        result = await graphql({
          schema: schemas.get(plugin)!,
          source: parsed.query,
          variableValues: parsed.variables ?? undefined,
          operationName: parsed.operationName ?? undefined,
          contextValue: ctx,
        });
      } catch (err) {
        runtime.log.error({ err: errorForLog(err), plugin, requestId }, 'remote schema request failed');
        observe(500, (performance.now() - started) / 1000);
        res.status(500).json({ errors: [{ message: 'internal error', extensions: { code: 'internal' } }] });
        return;
      }
      const body: Record<string, unknown> = {};
      if (result.errors?.length) {
        body.errors = result.errors.map((e) => formatError(e, (err) => runtime.log.error({ err: errorForLog(err), plugin, requestId }, 'remote schema resolver failed')));
      }
      if ('data' in result) body.data = result.data ?? null;
      observe(200, (performance.now() - started) / 1000);
      res.set('x-request-id', requestId).json(body);
    },
  );
  return router;
}
