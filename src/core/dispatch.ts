/**
 * The transport-free core of the handler server: one function from (kind, name, headers, body) to
 * (status, headers, body), shared by the fast `node:http` path and the express router.
 *
 * Status rules (reference/hasura.md §1.3, §2.2): actions answer 200 with the output or 4xx
 * `{message, extensions:{code}}`; events and crons answer 200 when done or skipped, 503 (+ Retry-After)
 * when a retry can help, 500 otherwise. A client mistake is always a 4xx; nothing a request contains can
 * make this function throw.
 */
import * as crypto from 'node:crypto';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ActionError, RetryableError, SkipEvent } from './errors.js';
import {
  EnvelopeError,
  formatIssues,
  parseActionEnvelope,
  parseCronEnvelope,
  parseEventEnvelope,
  parseJsonBody,
} from './envelope.js';
import type { ErrorClass, Observer } from './metrics.js';
import { recordSkip, type DeliveryKind, type ReceiptScope } from './once.js';
import type { ActionContext, ActionSpec, CronSpec, DeliveryOutcome, EventTriggerSpec, HandlerContext, PluginManifest, ProjectEventHandlerSpec } from './plugin.js';
import type { HandlerEntry } from './registry.js';
import type { ServerRuntime } from './runtime.js';
import type { InputValidator } from './action-input.js';
import type { z } from 'zod';

export type Kind = DeliveryKind;

export interface DispatchResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Headers = IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>;

export type Dispatch = (kind: Kind, name: string, headers: Headers, body: string | Buffer) => Promise<DispatchResult>;

export const SECRET_HEADER = 'x-nself-plugins-secret';

const UNMATCHED = '(unmatched)';
const REQUEST_ID = /^[\w.:-]{1,128}$/;

interface Route {
  kind: Kind;
  name: string;
  plugin: PluginManifest;
  scope: ReceiptScope;
  /** Bindings of the handler's lazily created child logger. */
  bindings: { kind: Kind; name: string };
  observe: Observer;
  run: (body: unknown, ctx: RouteContext) => Promise<DispatchResult>;
}

interface RouteContext {
  requestId: string;
  log: Logger;
}

/** One-shot hashing (Node ≥ 20.12) skips the Hash object: it runs on every webhook request. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = (value: string): Buffer => (oneShotHash ? oneShotHash('sha256', value, 'buffer') : createHash('sha256').update(value).digest());

function json(status: number, value: unknown, requestId: string, extra?: Record<string, string>): DispatchResult {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId };
  if (extra) Object.assign(headers, extra);
  return { status, headers, body: JSON.stringify(value) };
}

function problem(status: number, code: string, message: string, requestId: string, extra?: Record<string, string>): DispatchResult {
  return json(status, { message, extensions: { code } }, requestId, extra);
}

const isZodError = (e: unknown): e is z.ZodError =>
  e instanceof Error && e.name === 'ZodError' && Array.isArray((e as { issues?: unknown }).issues);

/** The error classes shared by all kinds: things that are the caller's fault. */
function clientError(e: unknown, requestId: string): DispatchResult | undefined {
  if (e instanceof EnvelopeError) return problem(e.status, e.code, e.message, requestId);
  return undefined;
}

export function createDispatcher(runtime: ServerRuntime): Dispatch {
  const { log, metrics } = runtime;
  const limit = runtime.core.BODY_LIMIT_BYTES;
  const expectedDigest = sha256(runtime.webhookSecret);

  const secretOk = (value: string | string[] | undefined): boolean => {
    if (typeof value !== 'string') return false;
    // Digests have equal length whatever was sent, so the comparison time says nothing about the secret.
    return timingSafeEqual(sha256(value), expectedDigest);
  };

  const contextFor = (route: Route, rc: RouteContext, session: HandlerContext['session'], eventId: string) =>
    runtime.contextFor(route.plugin.name, {
      session,
      requestId: rc.requestId,
      receipt: route.scope,
      bindings: { ...route.bindings, eventId },
    });

  /* ---------------------------------------------------------------- actions */

  const actionRoute = (entry: HandlerEntry<ActionSpec>, validate: InputValidator | undefined, route: () => Route): Route['run'] => {
    const name = entry.name;
    return async (body, rc) => {
      const r = route();
      const env = parseActionEnvelope(body);
      if (env.name !== name) throw new EnvelopeError(`action.name "${env.name}" does not match the route /actions/${name}`);
      const input = validate ? validate(env.input) : env.input;
      const ctx = runtime.contextFor(entry.plugin.name, {
        session: env.session,
        requestId: rc.requestId,
        receipt: r.scope,
        bindings: r.bindings,
        action: { name, requestQuery: env.requestQuery },
      }) as ActionContext;
      let result: unknown;
      try {
        result = await entry.spec.handler(input, ctx);
      } catch (e) {
        if (e instanceof ActionError) {
          metrics.error('action', name, 'handler');
          const status = e.status >= 400 && e.status <= 499 ? e.status : 400;
          return json(status, { message: e.message, extensions: e.extensions }, rc.requestId);
        }
        if (isZodError(e)) {
          metrics.error('action', name, 'client');
          return problem(400, 'invalid-input', formatIssues(e, undefined, 'input'), rc.requestId);
        }
        throw e;
      }
      return json(200, result === undefined ? null : result, rc.requestId);
    };
  };

  /* ---------------------------------------------------------------- events and crons */

  const deliveryOutcome = async (
    route: Route,
    key: string,
    rc: RouteContext,
    run: () => Promise<DeliveryOutcome>,
  ): Promise<DispatchResult> => {
    let reason: string | undefined;
    try {
      const outcome = await run();
      if (outcome && typeof outcome === 'object' && 'skipped' in outcome) reason = String(outcome.skipped);
    } catch (e) {
      if (e instanceof SkipEvent) reason = e.reason;
      else if (e instanceof RetryableError) {
        metrics.error(route.kind, route.name, 'retryable');
        const after = e.retryAfterSeconds;
        // Hasura honours only a positive integer number of seconds (reference/hasura.md §2.2).
        const header = after !== undefined && Number.isFinite(after) && after > 0 ? { 'retry-after': String(Math.ceil(after)) } : undefined;
        rc.log.warn({ err: e, eventId: key }, 'retryable failure');
        return problem(503, 'retryable', e.message, rc.requestId, header);
      } else throw e;
    }
    if (reason === undefined) return json(200, { ok: true }, rc.requestId);
    await recordSkip(runtime.db, route.scope, key, reason);
    rc.log.info({ eventId: key, reason }, 'delivery skipped');
    return json(200, { skipped: reason }, rc.requestId);
  };

  const eventRoute = (entry: HandlerEntry<EventTriggerSpec>, route: () => Route): Route['run'] => {
    const name = entry.name;
    return async (body, rc) => {
      const env = parseEventEnvelope(body);
      if (env.name !== name) throw new EnvelopeError(`trigger.name "${env.name}" does not match the route /events/${name}`);
      const r = route();
      const ctx = contextFor(r, rc, env.session, env.payload.id);
      return deliveryOutcome(r, env.payload.id, rc, () => entry.spec.handler(env.payload, ctx));
    };
  };

  /**
   * A project trigger's handler serves every trigger of its plugin (`<plugin>_…`) on the user's tables: which
   * ones exist depends on the install options, so the name is checked against the plugin, not a list.
   */
  const projectEventRoute = (entry: HandlerEntry<ProjectEventHandlerSpec>, route: () => Route): Route['run'] => {
    const prefix = `${entry.plugin.name}_`;
    return async (body, rc) => {
      const env = parseEventEnvelope(body);
      if (!env.name.startsWith(prefix)) throw new EnvelopeError(`trigger.name "${env.name}" is not a trigger of plugin ${entry.plugin.name} (route /events/${entry.name})`);
      const r = route();
      const ctx = contextFor(r, rc, env.session, env.payload.id);
      return deliveryOutcome(r, env.payload.id, rc, () => entry.spec.handler(env.payload, ctx));
    };
  };

  const cronRoute = (entry: HandlerEntry<CronSpec>, route: () => Route): Route['run'] => {
    const name = entry.name;
    return async (body, rc) => {
      const env = parseCronEnvelope(body);
      // One-off scheduled events carry no name; a cron event must name this route's trigger.
      if (env.name !== undefined && env.name !== name) throw new EnvelopeError(`name "${env.name}" does not match the route /cron/${name}`);
      const r = route();
      const ctx = contextFor(r, rc, null, env.payload.id);
      return deliveryOutcome(r, env.payload.id, rc, () => entry.spec.handler(env.payload, ctx));
    };
  };

  /* ---------------------------------------------------------------- lookup tables, built once */

  const routes: Record<Kind, Map<string, Route>> = { action: new Map(), event: new Map(), cron: new Map() };
  const unmatched: Record<Kind, Observer> = {
    action: metrics.observer('action', UNMATCHED),
    event: metrics.observer('event', UNMATCHED),
    cron: metrics.observer('cron', UNMATCHED),
  };
  const addRoute = (kind: Kind, entry: HandlerEntry<unknown>, run: (route: () => Route) => Route['run']) => {
    const r: Route = {
      kind,
      name: entry.name,
      plugin: entry.plugin,
      scope: { kind, handler: entry.name },
      bindings: { kind, name: entry.name },
      observe: metrics.observer(kind, entry.name),
      run: undefined!,
    };
    r.run = run(() => r);
    routes[kind].set(entry.name, r);
  };
  for (const e of runtime.handlers.actions.values()) addRoute('action', e, (r) => actionRoute(e, runtime.inputValidators.get(e.name), r));
  for (const e of runtime.handlers.events.values()) addRoute('event', e, (r) => eventRoute(e, r));
  for (const e of runtime.handlers.crons.values()) addRoute('cron', e, (r) => cronRoute(e, r));
  for (const e of runtime.handlers.projectEvents.values()) addRoute('event', e, (r) => projectEventRoute(e, r));

  /* ---------------------------------------------------------------- the dispatcher */

  const finish = (observe: Observer, kind: Kind, name: string, started: number, result: DispatchResult, cls?: ErrorClass): DispatchResult => {
    observe(result.status, (performance.now() - started) / 1000);
    if (cls) metrics.error(kind, name, cls);
    return result;
  };

  return async function dispatch(kind, name, headers, rawBody) {
    const started = performance.now();
    const given = headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();

    if (!secretOk(headers[SECRET_HEADER])) {
      log.warn({ requestId, kind, name: name.slice(0, 200) }, 'rejected: missing or wrong %s header', SECRET_HEADER);
      return finish(unmatched[kind] ?? unmatched.action, kind, UNMATCHED, started, problem(401, 'unauthorized', `missing or wrong ${SECRET_HEADER} header`, requestId), 'client');
    }
    const route = routes[kind]?.get(name);
    if (!route) {
      const where = kind === 'action' ? 'actions' : kind === 'event' ? 'events' : 'cron';
      return finish(unmatched[kind] ?? unmatched.action, kind, UNMATCHED, started, problem(404, 'not-found', `no ${kind} handler named "${name.slice(0, 200)}" at /${where}/`, requestId), 'client');
    }
    const size = typeof rawBody === 'string' ? Buffer.byteLength(rawBody) : rawBody.length;
    if (size > limit) {
      return finish(route.observe, kind, route.name, started, problem(413, 'payload-too-large', `request body exceeds ${limit} bytes`, requestId), 'client');
    }

    const rc: RouteContext = { requestId, log };
    try {
      const body = parseJsonBody(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
      const result = await route.run(body, rc);
      return finish(route.observe, kind, route.name, started, result);
    } catch (e) {
      const client = clientError(e, requestId);
      if (client) {
        log.info({ requestId, kind, name: route.name, reason: (e as Error).message }, 'rejected request');
        return finish(route.observe, kind, route.name, started, client, 'client');
      }
      log.error({ err: e, requestId, kind, name: route.name }, 'handler failed');
      return finish(route.observe, kind, route.name, started, problem(500, 'internal', 'internal error', requestId), 'internal');
    }
  };
}
