/**
 * Delivery: one job run = at most one HTTP attempt of one delivery (message × endpoint).
 *
 * The state is in `webhooks.delivery`; a job only says "try delivery X, attempt N, now". A run first claims the
 * delivery (pending and due, attempt N → sending with a lease); a second job for the same attempt (a redelivered
 * job, the dispatcher's safety net) finds nothing to claim and does nothing. A worker killed mid-request leaves
 * the delivery `sending`; when its lease lapses the dispatcher starts the attempt again — with the same
 * `webhook-id`, so consumers dedupe.
 */
import { request } from 'undici';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Db, Queryable } from '../../../core/plugin.js';
import type { WebhooksConfig } from '../config.js';
import { guardedAgent, parseAllowList, staticUrlProblem, type Cidr } from './ssrf.js';
import { signatureHeaders, type Scheme } from './signing.js';
import { nextRetryDelay, parseRetryAfter } from './schedule.js';
import { batcherPer, Slots, StatementBatcher } from '../../../core/statement-batcher.js';

export const USER_AGENT = 'nself-plugins-webhooks/0.1';
/** Headers an endpoint's custom headers may not set: the signature scheme's and the transport's own. */
export const RESERVED_HEADERS = new Set(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'content-length', 'host', 'transfer-encoding', 'connection', 'user-agent']);

interface Claimed {
  id: string;
  attempts: number;
  step: number;
  message_id: string;
  endpoint_id: string;
  ordering_key: string | null;
  url: string;
  headers: Record<string, string>;
  retry_schedule: number[] | null;
  rate_limit: number | null;
  fifo: boolean;
  owner_id: string;
  body: string;
  secrets: { scheme: Scheme; secret: string }[];
}

export interface DeliverDeps {
  db: Db;
  config: Readonly<WebhooksConfig>;
  log: Logger;
  signal?: AbortSignal;
  /** Enqueues attempt `attempt` of a delivery to run after `delayMs`. */
  schedule(deliveryId: string, attempt: number, delayMs: number, tag?: string): Promise<void>;
  /** Tells the endpoint's owner it was disabled (the notifications plugin, when enabled). */
  notifyDisabled?(endpoint: { id: string; ownerId: string; url: string; reason: string }): Promise<void>;
}

export type DeliverOutcome =
  | { result: 'not-due' }
  | { result: 'deferred'; reason: string }
  | { result: 'succeeded'; status: number }
  | { result: 'failed'; status: number | null; error: string; nextRetryInSeconds: number | null; disabled: string | null };

const agents = new Map<string, { agent: Agent; allow: Cidr[] }>();

/** One HTTP agent per allow-list (in practice: one per process). */
export function agentFor(allowText: string): { agent: Agent; allow: Cidr[] } {
  let a = agents.get(allowText);
  if (!a) {
    const allow = parseAllowList(allowText);
    a = { agent: guardedAgent(allow), allow };
    agents.set(allowText, a);
  }
  return a;
}

/**
 * Attempt bookkeeping (the claim, the attempt row, the delivery's outcome) commits without waiting for the WAL
 * flush: a PostgreSQL crash can lose the last few milliseconds of it, and the only consequence is that a
 * delivery is sent again with the same webhook-id — which at-least-once delivery allows and consumers dedupe.
 * Messages themselves (the emit) stay synchronous. Measured: the flush waits were most of a delivery's time.
 */
const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true)`;

export const msgIdOf = (messageId: string) => `msg_${messageId.replace(/-/g, '')}`;

interface ClaimRequest {
  deliveryId: string;
  attempt: number;
  leaseSeconds: number;
}

/**
 * Claims many deliveries in one statement (the deliveries of a batch job, and whatever else starts in the same
 * turn). Each row is claimed exactly as alone: pending and due (or its lease lapsed), still at the attempt
 * its job names, its endpoint enabled, and — on a FIFO endpoint — nothing older of its key still open. Rows
 * are locked in id order, so two batches claiming overlapping deliveries never deadlock: the later one waits,
 * then finds the row claimed and leaves it. (Skipping locked rows instead would leave a due delivery whose row
 * was held for a moment by some other write without a job until the dispatcher's grace period passed.)
 */
async function claimMany(db: Queryable, reqs: readonly ClaimRequest[]): Promise<(Claimed | null)[]> {
  const r = await db.query<Claimed>(
    `with async_commit as (select ${ASYNC_COMMIT}),
     want as (select * from unnest($1::uuid[], $2::int[], $3::int[]) as w(id, attempt, lease)),
     c as (
       select d.id, w.lease from webhooks.delivery d
         join want w on w.id = d.id and d.attempts = w.attempt
         join webhooks.endpoint e on e.id = d.endpoint_id and e.enabled
        where ((d.status = 'pending' and d.next_attempt_at <= now() + interval '2 seconds') or (d.status = 'sending' and d.lease_until < now()))
          and (not e.fifo or d.ordering_key is null or not exists (
                select 1 from webhooks.delivery p
                 where p.endpoint_id = d.endpoint_id and p.ordering_key = d.ordering_key and p.message_seq < d.message_seq
                   and p.status in ('pending', 'sending')))
        order by d.id
        for update of d),
     d as (
       update webhooks.delivery d set status = 'sending', attempts = d.attempts + 1, lease_until = now() + make_interval(secs => c.lease), updated_at = now()
         from c, webhooks.endpoint e
        where d.id = c.id and e.id = d.endpoint_id
       returning d.id, d.attempts, d.step, d.message_id, d.endpoint_id, d.ordering_key,
                 e.url, e.headers, e.retry_schedule, e.rate_limit, e.fifo, e.owner_id)
     select d.*, m.body,
            coalesce((select json_agg(json_build_object('scheme', s.scheme, 'secret', s.secret) order by s.created_at desc)
                        from webhooks.endpoint_secret s where s.endpoint_id = d.endpoint_id and (s.expires_at is null or s.expires_at > now())), '[]') as secrets
       from d join webhooks.message m on m.id = d.message_id, async_commit`,
    [reqs.map((q) => q.deliveryId), reqs.map((q) => q.attempt), reqs.map((q) => q.leaseSeconds)],
  );
  const byId = new Map(r.rows.map((row) => [row.id, row]));
  // A delivery asked for twice in one batch (a job and its duplicate) is claimed once: the first asker gets it.
  return reqs.map((q) => {
    const row = byId.get(q.deliveryId) ?? null;
    if (row) byId.delete(q.deliveryId);
    return row;
  });
}

interface SuccessRecord {
  deliveryId: string;
  endpointId: string;
  messageId: string;
  status: number;
  body: string;
  ms: number;
}

/**
 * Records many successful attempts in one statement (one round trip, atomic): the attempt rows, the deliveries'
 * outcome, and the endpoints' streak — an endpoint row is written only when its failure streak ends or its last
 * success is a second old, so concurrent successes to one endpoint do not queue on its row lock; endpoints are
 * locked in id order so two batches never deadlock on them.
 */
async function recordSuccesses(db: Queryable, recs: readonly SuccessRecord[]): Promise<void[]> {
  await db.query(
    `with async_commit as (select ${ASYNC_COMMIT} as x),
     r as (select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::int[]) as r(delivery_id, endpoint_id, message_id, code, body, ms)),
     a as (
       insert into webhooks.attempt (delivery_id, endpoint_id, message_id, status, response_code, response_body, duration_ms)
       select delivery_id, endpoint_id, message_id, 'succeeded', code, body, ms from r),
     d as (
       update webhooks.delivery d set status = 'succeeded', lease_until = null, last_status_code = r.code, last_error = null, updated_at = now()
         from r where d.id = r.delivery_id),
     e as (
       select id from webhooks.endpoint
        where id in (select endpoint_id from r) and (select x from async_commit) is not null
          and (failing_since is not null or last_success_at is null or last_success_at < now() - interval '1 second')
        order by id for update)
     update webhooks.endpoint set last_success_at = now(), failing_since = null where id in (select id from e)`,
    [
      recs.map((x) => x.deliveryId),
      recs.map((x) => x.endpointId),
      recs.map((x) => x.messageId),
      recs.map((x) => x.status),
      recs.map((x) => x.body),
      recs.map((x) => x.ms),
    ],
  );
  return recs.map(() => undefined);
}

const claims = batcherPer((db: Queryable) => new StatementBatcher<ClaimRequest, Claimed | null>((reqs) => claimMany(db, reqs)));
const successes = batcherPer((db: Queryable) => new StatementBatcher<SuccessRecord, void>((recs) => recordSuccesses(db, recs)));

/**
 * Requests one process has in flight at most, whatever the number of jobs and the size of their batches. A
 * request's slot is held only while it is on the wire, so claiming and recording (shared statements) overlap
 * other deliveries' requests.
 */
export const REQUESTS_IN_FLIGHT = 50;
const requestSlots = new Slots(REQUESTS_IN_FLIGHT);
/**
 * Deliveries claimed and not yet recorded, at most twice the requests: a claimed delivery then waits for its
 * request slot at most one request timeout, well inside its lease (the request timeout + 30 s), so a lease
 * never lapses while its delivery only waits for its turn.
 */
const claimedSlots = new Slots(2 * REQUESTS_IN_FLIGHT);

/** Counts this start against the endpoint's per-second limit; false when over it. */
async function withinRateLimit(db: Queryable, endpointId: string, limit: number): Promise<boolean> {
  const r = await db.query<{ rate_count: number }>(
    `update webhooks.endpoint
        set rate_count = case when rate_window = date_trunc('second', clock_timestamp()) then rate_count + 1 else 1 end,
            rate_window = date_trunc('second', clock_timestamp())
      where id = $1 returning rate_count`,
    [endpointId],
  );
  return (r.rows[0]?.rate_count ?? 0) <= limit;
}

interface HttpResult {
  status: number | null;
  body: string;
  error: string | null;
  retryAfter: number | null;
  location: string | null;
  ms: number;
}

async function post(d: Claimed, deps: DeliverDeps): Promise<HttpResult> {
  const { config } = deps;
  const started = performance.now();
  const done = (r: Omit<HttpResult, 'ms'>): HttpResult => ({ ...r, ms: Math.round(performance.now() - started) });
  const { agent, allow } = agentFor(config.WEBHOOKS_SSRF_ALLOW);
  // The endpoint was checked when written; checked again here because the allow-list or HTTPS rule may have
  // changed since, and literal addresses never reach the agent's lookup.
  const problem = staticUrlProblem(d.url, { requireHttps: config.WEBHOOKS_REQUIRE_HTTPS, allow });
  if (problem) return done({ status: null, body: '', error: `refused: the URL ${problem}`, retryAfter: null, location: null });
  const custom = Object.fromEntries(Object.entries(d.headers ?? {}).filter(([k]) => !RESERVED_HEADERS.has(k.toLowerCase())));
  const headers = {
    ...custom,
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    ...signatureHeaders(d.secrets, msgIdOf(d.message_id), new Date(), d.body),
  };
  const timeout = config.WEBHOOKS_REQUEST_TIMEOUT_MS;
  const signal = deps.signal ? AbortSignal.any([deps.signal, AbortSignal.timeout(timeout)]) : AbortSignal.timeout(timeout);
  try {
    const res = await request(d.url, { method: 'POST', headers, body: d.body, dispatcher: agent, signal, headersTimeout: timeout, bodyTimeout: timeout });
    const limit = config.WEBHOOKS_RESPONSE_BODY_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      if (size < limit) chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      // Enough kept: stop reading (the connection is closed rather than drained).
      if (size >= limit && size > 65_536) break;
    }
    const text = Buffer.concat(chunks).subarray(0, limit).toString('utf8');
    const loc = res.headers.location;
    return done({
      status: res.statusCode,
      body: text,
      error: null,
      retryAfter: parseRetryAfter(res.headers['retry-after']),
      location: typeof loc === 'string' ? loc : null,
    });
  } catch (e) {
    const err = e as Error & { code?: string; cause?: Error & { code?: string } };
    const cause = err.cause ?? err;
    let message: string;
    if (err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT') message = `timed out after ${timeout} ms`;
    else if (cause.name === 'BlockedAddressError' || err.name === 'BlockedAddressError') message = (cause.name === 'BlockedAddressError' ? cause : err).message;
    else if (err.name === 'AbortError' && deps.signal?.aborted) message = 'the attempt was stopped (worker shutting down or job timed out)';
    else message = `${cause.code ?? err.code ?? err.name}: ${cause.message || err.message}`;
    return done({ status: null, body: '', error: message.slice(0, 1000), retryAfter: null, location: null });
  }
}

/** Runs attempt `attempt` of a delivery, if it is still due; records it and schedules what follows. */
export async function deliver(deps: DeliverDeps, deliveryId: string, attempt: number): Promise<DeliverOutcome> {
  await claimedSlots.acquire(deps.signal);
  try {
    return await attemptDelivery(deps, deliveryId, attempt);
  } finally {
    claimedSlots.release();
  }
}

/** Runs the attempts of a batch job concurrently; each one's outcome (or error) is its own. */
export async function deliverMany(deps: DeliverDeps, items: readonly { deliveryId: string; attempt: number }[]): Promise<PromiseSettledResult<DeliverOutcome>[]> {
  return Promise.allSettled(items.map((i) => deliver(deps, i.deliveryId, i.attempt)));
}

async function attemptDelivery(deps: DeliverDeps, deliveryId: string, attempt: number): Promise<DeliverOutcome> {
  const { db, config } = deps;
  const leaseSeconds = Math.ceil(config.WEBHOOKS_REQUEST_TIMEOUT_MS / 1000) + 30;
  const d = await claims(db).call({ deliveryId, attempt, leaseSeconds });
  if (!d) return { result: 'not-due' };
  if (d.rate_limit != null && !(await withinRateLimit(db, d.endpoint_id, d.rate_limit))) {
    // Over the endpoint's limit: give the claim back and try again in the next second (spread over it).
    const delayMs = 1000 - (Date.now() % 1000) + Math.floor(Math.random() * 250);
    await db.query(
      `update webhooks.delivery set status = 'pending', attempts = attempts - 1, lease_until = null,
              next_attempt_at = now() + make_interval(secs => $2::float8 / 1000), updated_at = now() where id = $1`,
      [d.id, delayMs],
    );
    await deps.schedule(d.id, d.attempts - 1, delayMs, `r${Date.now()}`);
    return { result: 'deferred', reason: 'rate limit' };
  }
  // A stop (shutdown, job timeout) while waiting leaves the delivery `sending`: its lease lapses and it is tried again.
  await requestSlots.acquire(deps.signal);
  let res: HttpResult;
  try {
    res = await post(d, deps);
  } finally {
    requestSlots.release();
  }
  const ok = res.status !== null && res.status >= 200 && res.status < 300;
  if (ok) {
    await successes(db).call({ deliveryId: d.id, endpointId: d.endpoint_id, messageId: d.message_id, status: res.status!, body: res.body, ms: res.ms });
    if (d.fifo && d.ordering_key) await releaseNextInLine(deps, d);
    return { result: 'succeeded', status: res.status! };
  }

  const error =
    res.error ??
    (res.status! >= 300 && res.status! < 400
      ? `the receiver answered ${res.status} (redirect${res.location ? ` to ${res.location.slice(0, 300)}` : ''}): redirects are not followed`
      : `the receiver answered ${res.status}`);
  const gone = res.status === 410;
  const schedule = d.retry_schedule?.length ? d.retry_schedule : config.WEBHOOKS_RETRY_SCHEDULE;
  const retryAfter =
    res.retryAfter != null && (res.status === 429 || res.status === 503) ? Math.min(res.retryAfter, config.WEBHOOKS_MAX_RETRY_AFTER_SECONDS) : null;
  const delay = gone ? null : nextRetryDelay({ schedule, failures: d.step + 1, jitter: config.WEBHOOKS_RETRY_JITTER, retryAfterSeconds: retryAfter });

  const disabled = await db.tx(async (tx) => {
    await tx.query(`select ${ASYNC_COMMIT}`);
    await tx.query(
      `insert into webhooks.attempt (delivery_id, endpoint_id, message_id, status, response_code, response_body, duration_ms, error, next_retry_at)
       values ($1, $2, $3, 'failed', $4, $5, $6, $7, case when $8::int is null then null else now() + make_interval(secs => $8::int) end)`,
      [d.id, d.endpoint_id, d.message_id, res.status, res.body, res.ms, error, delay],
    );
    await tx.query(
      `update webhooks.delivery
          set status = case when $4::int is null then 'failed' else 'pending' end, step = step + 1, lease_until = null,
              next_attempt_at = case when $4::int is null then next_attempt_at else now() + make_interval(secs => $4::int) end,
              last_status_code = $2, last_error = $3, updated_at = now()
        where id = $1`,
      [d.id, res.status, error, delay],
    );
    const e = await tx.query<{ failing_since: Date; expired: boolean }>(
      `update webhooks.endpoint set failing_since = coalesce(failing_since, now()), updated_at = now() where id = $1
       returning failing_since, failing_since <= now() - make_interval(hours => $2) as expired`,
      [d.endpoint_id, config.WEBHOOKS_DISABLE_AFTER_HOURS],
    );
    const reason = gone
      ? 'the receiver answered 410 Gone'
      : e.rows[0]?.expired
        ? `every delivery failed for ${config.WEBHOOKS_DISABLE_AFTER_HOURS} hours (since ${e.rows[0].failing_since.toISOString()})`
        : null;
    if (reason && (await disableEndpoint(tx, d.endpoint_id, reason))) return reason;
    return null;
  });
  if (disabled && deps.notifyDisabled) {
    await deps.notifyDisabled({ id: d.endpoint_id, ownerId: d.owner_id, url: d.url, reason: disabled }).catch((err: unknown) => {
      deps.log.warn({ err, endpointId: d.endpoint_id }, 'webhooks: notifying the owner of a disabled endpoint failed');
    });
  }
  if (delay != null && !disabled) await deps.schedule(d.id, d.attempts, delay * 1000);
  else if (d.fifo && d.ordering_key) await releaseNextInLine(deps, d);
  return { result: 'failed', status: res.status, error, nextRetryInSeconds: disabled ? null : delay, disabled };
}

/** Disables an endpoint and ends its waiting deliveries; false when it was disabled already. */
export async function disableEndpoint(db: Queryable, endpointId: string, reason: string): Promise<boolean> {
  const r = await db.query(
    `update webhooks.endpoint set enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now() where id = $1 and enabled`,
    [endpointId, reason],
  );
  if (!r.rowCount) return false;
  await db.query(
    `update webhooks.delivery set status = 'skipped', last_error = 'endpoint disabled: ' || $2, lease_until = null, updated_at = now()
      where endpoint_id = $1 and status = 'pending'`,
    [endpointId, reason],
  );
  return true;
}

/** FIFO endpoints: the next message of the same ordering key may go now. */
async function releaseNextInLine(deps: DeliverDeps, d: Claimed): Promise<void> {
  const r = await deps.db.query<{ id: string; attempts: number }>(
    `select id, attempts from webhooks.delivery
      where endpoint_id = $1 and ordering_key = $2 and status = 'pending' and next_attempt_at <= now() + interval '2 seconds'
      order by message_seq limit 1`,
    [d.endpoint_id, d.ordering_key],
  );
  const next = r.rows[0];
  if (next) await deps.schedule(next.id, next.attempts, 0, `f${d.id.slice(0, 8)}`);
}

/**
 * The safety net and the retry clock's hand: deliveries due for a while whose job was lost (an enqueue that failed
 * after the message committed, a queue that was flushed) and deliveries whose worker died mid-attempt (lease
 * lapsed). Returns what it enqueued.
 */
export async function dispatchDue(deps: Pick<DeliverDeps, 'db' | 'schedule'>, opts: { graceSeconds: number; limit?: number }): Promise<number> {
  const r = await deps.db.query<{ id: string; attempts: number }>(
    `select id, attempts from webhooks.delivery
      where (status = 'pending' and next_attempt_at <= now() - make_interval(secs => $1))
         or (status = 'sending' and lease_until < now())
      order by next_attempt_at limit $2`,
    [opts.graceSeconds, opts.limit ?? 1000],
  );
  // The minute in the job id lets a later pass try again if this pass's job was a no-op.
  const tag = `d${Math.floor(Date.now() / 60_000)}`;
  for (const row of r.rows) await deps.schedule(row.id, row.attempts, 0, tag);
  return r.rows.length;
}
