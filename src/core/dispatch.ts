/**
 * The transport-free core of the handler server: one function from (kind, name, headers, body) to
 * (status, headers, body), shared by the fast `node:http` path and the express router.
 *
 * Status rules (reference/hasura.md §1.3, §2.2): actions answer 200 with the output or 4xx
 * `{message, extensions:{code}}`; events and crons answer 200 when done or skipped, 503 (+ Retry-After)
 * when a retry can help, 500 otherwise. A client mistake is always a 4xx; nothing a request contains can
 * make this function throw.
 */
import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
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
import { pgDataError } from './data-errors.js';
import { errorForLog } from './logger.js';
import { secretMatcher } from './secret.js';
import { describeUnstorable, findUnstorable, mayHoldUnstorable, type Unstorable } from './unstorable.js';

export type Kind = DeliveryKind;

export interface DispatchResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Headers = IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>;

export interface Dispatch {
  (kind: Kind, name: string, headers: Headers, body: string | Buffer): Promise<DispatchResult>;
  /**
   * What the headers alone decide (secret, route): the 401/404 to send without reading the body, or
   * undefined. An HTTP server calls it as soon as the headers arrive, then `afterPrecheck` with the body.
   */
  readonly precheck?: (kind: Kind, name: string, headers: Headers) => DispatchResult | undefined;
  /** The dispatcher for a request `precheck` let through (does not check the secret again). */
  readonly afterPrecheck?: (kind: Kind, name: string, headers: Headers, body: string | Buffer) => Promise<DispatchResult>;
  /** Largest body of a kind: BODY_LIMIT_BYTES for actions, EVENT_BODY_LIMIT_BYTES for events and crons. */
  readonly bodyLimit?: (kind: Kind) => number;
  /** The 413 for a body over the limit (known from content-length or while reading); logs and counts it. */
  readonly tooLarge?: (kind: Kind, name: string, headers: Headers, size: number | undefined) => DispatchResult;
}

/** Default of EVENT_BODY_LIMIT_BYTES for configs built by hand (tests, embedding apps). */
export const DEFAULT_EVENT_BODY_LIMIT = 64 * 1024 * 1024;

/** The roles allowed to call an action: admin, and those its metadata grants (Hasura's action permissions). */
export function allowedRoles(spec: Pick<ActionSpec, 'permissions'>): ReadonlySet<string> {
  return new Set(['admin', ...(spec.permissions ?? [])]);
}

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
  /** `bad`: a value in the body that cannot be passed on unchanged (refused or skipped, never handled). */
  run: (body: unknown, ctx: RouteContext, bad: Unstorable | undefined) => Promise<DispatchResult>;
}

interface RouteContext {
  requestId: string;
  log: Logger;
}

/**
 * Request ids when Hasura sends none: UUID-shaped, a random per-process prefix and a counter (randomUUID per
 * request cost ~1.3 µs; uniqueness across replicas comes from the prefix).
 */
const ID_PREFIX = randomUUID().slice(0, 24);
let idCounter = 0;
export const nextRequestId = (): string => ID_PREFIX + (++idCounter).toString(16).padStart(12, '0');

const JSON_TYPE = 'application/json; charset=utf-8';

function json(status: number, value: unknown, requestId: string, extra?: Record<string, string>): DispatchResult {
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'x-request-id': requestId };
  if (extra) Object.assign(headers, extra);
  return { status, headers, body: JSON.stringify(value) };
}

function problem(status: number, code: string, message: string, requestId: string, extra?: Record<string, string>, extensions?: Record<string, unknown>): DispatchResult {
  return json(status, { message, extensions: { ...extensions, code } }, requestId, extra);
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
  const actionLimit = runtime.core.BODY_LIMIT_BYTES;
  const eventLimit = runtime.core.EVENT_BODY_LIMIT_BYTES ?? DEFAULT_EVENT_BODY_LIMIT;
  const bodyLimit = (kind: Kind) => (kind === 'action' ? actionLimit : eventLimit);
  const secretOk = secretMatcher(runtime.webhookSecret);

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
    const roles = allowedRoles(entry.spec);
    const forbidden = (role: string) => `role "${role.slice(0, 100)}" may not call ${name} (allowed: ${[...roles].join(', ')})`;
    return async (body, rc, bad) => {
      const r = route();
      const env = parseActionEnvelope(body);
      if (env.name !== name) throw new EnvelopeError(`action.name "${env.name}" does not match the route /actions/${name}`);
      // Hasura enforces the action's permissions; the handler does not trust less than the metadata says.
      if (!roles.has(env.session.role)) throw new EnvelopeError(forbidden(env.session.role), 403, 'forbidden');
      if (bad) throw new EnvelopeError(describeUnstorable(bad), 400, 'invalid-input');
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
        const data = pgDataError(e);
        if (data) {
          metrics.error('action', name, 'client');
          rc.log.info({ requestId: rc.requestId, action: name, sqlState: data.code }, 'input refused by PostgreSQL');
          return problem(400, 'invalid-input', `invalid value: ${data.message}`, rc.requestId, undefined, { sqlState: data.code });
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
      else if (isZodError(e)) {
        // The row or payload does not have the shape the handler needs: a redelivery cannot change that.
        reason = `invalid ${route.kind === 'cron' ? 'payload' : 'row'}: ${formatIssues(e)}`;
      } else if (pgDataError(e)) {
        reason = `value refused by PostgreSQL: ${pgDataError(e)!.message}`;
      } else if (e instanceof RetryableError) {
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

  /** The handler never sees a value it would store changed or fail on: the delivery is acknowledged as skipped. */
  const skipUnstorable = (bad: Unstorable) => async (): Promise<DeliveryOutcome> => ({ skipped: `unstorable value: ${describeUnstorable(bad)}` });

  const eventRoute = (entry: HandlerEntry<EventTriggerSpec>, route: () => Route): Route['run'] => {
    const name = entry.name;
    return async (body, rc, bad) => {
      const env = parseEventEnvelope(body);
      if (env.name !== name) throw new EnvelopeError(`trigger.name "${env.name}" does not match the route /events/${name}`);
      const r = route();
      if (bad) return deliveryOutcome(r, env.payload.id, rc, skipUnstorable(bad));
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
    return async (body, rc, bad) => {
      const env = parseCronEnvelope(body);
      // One-off scheduled events carry no name; a cron event must name this route's trigger.
      if (env.name !== undefined && env.name !== name) throw new EnvelopeError(`name "${env.name}" does not match the route /cron/${name}`);
      const r = route();
      if (bad) return deliveryOutcome(r, env.payload.id, rc, skipUnstorable(bad));
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

  const requestIdOf = (headers: Headers): string => {
    const given = headers['x-request-id'];
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
  };

  const where = (kind: Kind) => (kind === 'action' ? 'actions' : kind === 'event' ? 'events' : 'cron');

  /**
   * 401 or 404 from the headers alone, with the log line and metrics; undefined when the request may proceed.
   * The request id is made only for an answer: a passing request gets its id when it is served.
   */
  const precheckAt = (kind: Kind, name: string, headers: Headers, started: number, id?: string): DispatchResult | undefined => {
    if (!secretOk(headers[SECRET_HEADER])) {
      const requestId = id ?? requestIdOf(headers);
      log.warn({ requestId, kind, name: name.slice(0, 200) }, 'rejected: missing or wrong %s header', SECRET_HEADER);
      return finish(unmatched[kind] ?? unmatched.action, kind, UNMATCHED, started, problem(401, 'unauthorized', `missing or wrong ${SECRET_HEADER} header`, requestId), 'client');
    }
    if (!routes[kind]?.has(name)) {
      const requestId = id ?? requestIdOf(headers);
      return finish(unmatched[kind] ?? unmatched.action, kind, UNMATCHED, started, problem(404, 'not-found', `no ${kind} handler named "${name.slice(0, 200)}" at /${where(kind)}/`, requestId), 'client');
    }
    return undefined;
  };

  const tooLarge = (kind: Kind, name: string, headers: Headers, size: number | undefined): DispatchResult => {
    const requestId = requestIdOf(headers);
    const limit = bodyLimit(kind);
    const route = routes[kind]?.get(name);
    const fields = { requestId, kind, name: name.slice(0, 200), size, limit };
    if (kind === 'action') log.warn(fields, 'rejected: request body over BODY_LIMIT_BYTES');
    // Hasura retries a refused event and then drops it for good: say so where an operator looks.
    else log.error(fields, `${kind} REFUSED: body over EVENT_BODY_LIMIT_BYTES (${limit}); Hasura will retry and then drop it unless the limit is raised`);
    const result = problem(413, 'payload-too-large', `request body exceeds ${limit} bytes`, requestId);
    if (route) return finish(route.observe, kind, route.name, performance.now(), result, 'client');
    return result;
  };

  const run = async (kind: Kind, name: string, rawBody: string | Buffer, started: number, requestId: string): Promise<DispatchResult> => {
    const route = routes[kind]!.get(name)!;
    const fromBytes = typeof rawBody !== 'string';
    const size = fromBytes ? rawBody.length : Buffer.byteLength(rawBody);
    if (size > bodyLimit(kind)) return tooLarge(kind, name, { 'x-request-id': requestId }, size);

    const rc: RouteContext = { requestId, log };
    try {
      const text = fromBytes ? rawBody.toString('utf8') : rawBody;
      const body = parseJsonBody(text);
      let bad: Unstorable | undefined;
      // Decoding replaced invalid bytes with U+FFFD: the handler would see text that was never sent.
      if (fromBytes && !isUtf8(rawBody)) bad = { path: '(body)', reason: 'is not valid UTF-8' };
      else if (mayHoldUnstorable(text, fromBytes)) bad = findUnstorable(body);
      const result = await route.run(body, rc, bad);
      return finish(route.observe, kind, route.name, started, result);
    } catch (e) {
      const client = clientError(e, requestId);
      if (client) {
        log.info({ requestId, kind, name: route.name, reason: (e as Error).message.slice(0, 500) }, 'rejected request');
        return finish(route.observe, kind, route.name, started, client, 'client');
      }
      log.error({ err: errorForLog(e), requestId, kind, name: route.name }, 'handler failed');
      return finish(route.observe, kind, route.name, started, problem(500, 'internal', 'internal error', requestId), 'internal');
    }
  };

  const dispatch = async function dispatch(kind: Kind, name: string, headers: Headers, rawBody: string | Buffer): Promise<DispatchResult> {
    const started = performance.now();
    const requestId = requestIdOf(headers);
    return precheckAt(kind, name, headers, started, requestId) ?? run(kind, name, rawBody, started, requestId);
  };
  return Object.assign(dispatch, {
    precheck: (kind: Kind, name: string, headers: Headers) => precheckAt(kind, name, headers, performance.now()),
    afterPrecheck: (kind: Kind, name: string, headers: Headers, rawBody: string | Buffer) =>
      routes[kind]?.has(name) ? run(kind, name, rawBody, performance.now(), requestIdOf(headers)) : dispatch(kind, name, headers, rawBody),
    bodyLimit,
    tooLarge,
  });
}
