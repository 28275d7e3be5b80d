/**
 * `createHasuraHarness`: the parts of Hasura that call handlers, run against a real PostgreSQL database and a
 * real handler server, from a Hasura v3 metadata directory. See README.md in this folder.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ActionEngine, type GraphQLResult } from './actions.js';
import { HarnessClock } from './clock.js';
import { CronProcessor, fireTimesBetween, nextFireTimes, parseSchedule, type CronEventState, type ResolvedCron } from './cron.js';
import { HASURA_VERSION } from './delivery.js';
import { HarnessConfigError, HasuraError } from './errors.js';
import { EventProcessor, type ResolvedEventTrigger } from './events.js';
import { HttpClient } from './http.js';
import { readMetadataDir, resolveHeaders, resolveTemplate, type HasuraMetadata, type QualifiedTable, type SourceMeta } from './metadata.js';
import { PermissionEngine } from './permissions.js';
import { toSessionVariables, type SessionInput, type SessionVariables } from './session.js';
import { CATALOG_SQL, OPS, notifyName, notifySql, opSpec, type ColumnInfo } from './sql.js';
import { delay } from './sleeper.js';

export interface HarnessOptions {
  databaseUrl: string;
  /** A Hasura CLI v3 `metadata/` directory (the composed one is `hasura/metadata`). */
  metadataDir?: string;
  /** The metadata itself instead of `metadataDir` (see `metadataFromJson` for Hasura's JSON form). */
  metadata?: HasuraMetadata;
  /** Base URL of the handler server; provides `NSELF_PLUGINS_URL` unless `env` sets it. */
  handlerBaseUrl?: string;
  /** What Hasura's process environment would hold: `{{ENV}}` templates and `value_from_env` headers read it. */
  env?: Record<string, string | undefined>;
  /** Which metadata source is `databaseUrl` (default: `default`, or the only source). */
  source?: string;
  /** Version in `User-Agent: hasura-graphql-engine/<version>`. */
  hasuraVersion?: string;
  events?: {
    /** `HASURA_GRAPHQL_EVENTS_FETCH_BATCH_SIZE` (default 100). */
    fetchBatchSize?: number;
    /** `HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE`: concurrent deliveries (default 100). */
    httpPoolSize?: number;
    /** `HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL`: sleep after an empty fetch (default 1000 ms; writes through the harness wake it). */
    fetchIntervalMs?: number;
  };
  /** `HASURA_GRAPHQL_ASYNC_ACTIONS_FETCH_INTERVAL` (default 1000 ms; new async actions wake it). */
  asyncActionsFetchIntervalMs?: number;
  /** Poll interval for due cron events and cron retries (default 1000 ms). */
  cronFetchIntervalMs?: number;
  /** `HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES`: bigint/numeric in event payloads as strings. */
  stringifyNumericTypes?: boolean;
  /** `HASURA_GRAPHQL_DEV_MODE`: `extensions.internal` in every error (admin sees it regardless). */
  devMode?: boolean;
  /** Start the background processors (default true). */
  autoStart?: boolean;
  /** Size of the harness's own connection pool (default 20). */
  poolSize?: number;
}

export interface DrainOptions {
  /** Give up (throw) after this long; retries due later than this are not waited for (default 10 000 ms). */
  timeoutMs?: number;
  /** Jump the harness clock to each pending retry instead of waiting for it. */
  fastForward?: boolean;
}

export interface WithSessionOptions {
  /** `hasura.tracecontext`; Hasura sets one for every traced mutation. `null` leaves it unset. */
  traceContext?: Record<string, string> | null;
}

export interface FiredCron extends CronEventState {}

export interface EventLogRow {
  id: string;
  schema_name: string;
  table_name: string;
  trigger_name: string;
  payload: Record<string, unknown>;
  delivered: boolean;
  error: boolean;
  tries: number;
  created_at: Date;
  locked: Date | null;
  next_retry_at: Date | null;
  archived: boolean;
}

export interface InvocationLogRow {
  id: string;
  trigger_name: string;
  event_id: string;
  status: number | null;
  request: { payload: Record<string, unknown>; headers: unknown[]; version: string };
  response: { type: string; data: Record<string, unknown>; version: string };
  created_at: Date;
}

export interface HasuraHarness {
  readonly metadata: HasuraMetadata;
  /** The harness's pool: raw SQL through it carries no session (`session_variables: null`, like raw SQL writes). */
  readonly pool: pg.Pool;
  readonly clock: HarnessClock;
  /** The engines behind the harness, for tools built on it (the `nself-plugins dev` endpoint). */
  readonly engines: { readonly actions: ActionEngine; readonly permissions: PermissionEngine };
  /** Runs `fn` in a transaction with `SET LOCAL "hasura.user"`, as Hasura runs a GraphQL mutation. */
  withSession<T>(session: SessionInput, fn: (client: pg.PoolClient) => Promise<T>, opts?: WithSessionOptions): Promise<T>;
  /** `pg_invoke_event_trigger`: a MANUAL event with `data: {old: null, new: payload}`. */
  invokeEventTrigger(name: string, payload: unknown, session?: SessionInput): Promise<{ event_id: string }>;
  /** `pg_redeliver_event`. */
  redeliverEvent(eventId: string): Promise<void>;
  /** A GraphQL request to the actions of the metadata, as `session` (no session: admin). */
  graphql<D = Record<string, unknown>>(
    document: string,
    variables?: Record<string, unknown>,
    session?: SessionInput | null,
    opts?: { operationName?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResult<D>>;
  /** The stored result of an async action: `{id, created_at, errors, output, status}`, or null. */
  asyncActionResult(id: string): Promise<{ id: string; created_at: string; errors: unknown; output: unknown; status: string } | null>;
  /** Delivers one event of cron trigger `name` now (scheduled at `scheduledTime`, default: the harness clock). */
  fireCron(name: string, opts?: { scheduledTime?: Date }): Promise<FiredCron>;
  /** The next `count` fire times of a cron trigger after `from` (default: the harness clock), in UTC. */
  nextCronTimes(name: string, count?: number, from?: Date): Date[];
  /**
   * Creates the cron events of every occurrence after `from` up to `to`, as Hasura's cron scheduler does; the
   * background processor delivers them when due (`nself-plugins dev` calls it on wall time). Returns how many.
   */
  scheduleCronEvents(from: Date, to: Date): Promise<number>;
  /** Moves the clock to `to`, firing every cron occurrence on the way in order (and retries that fall due). */
  advanceClock(to: Date): Promise<FiredCron[]>;
  /** Waits until nothing deliverable is pending: events, cron events and async actions. */
  drain(opts?: DrainOptions): Promise<void>;
  /** Rows of `hdb_catalog.event_log` (optionally for one trigger), oldest first. */
  eventLog(trigger?: string): Promise<EventLogRow[]>;
  /** Rows of `hdb_catalog.event_invocation_logs` for one event, oldest first. */
  invocations(eventId: string): Promise<InvocationLogRow[]>;
  /** Rows `role` would read from `table` (only its permitted columns); a role without select permission reads nothing. */
  select(role: string, session: Partial<SessionInput> | null, table: QualifiedTable, where?: Record<string, unknown>, opts?: { orderBy?: string[] }): Promise<Record<string, unknown>[]>;
  hasSelectPermission(role: string, table: QualifiedTable): Promise<boolean>;
  /** Whether `role` may insert `row` into `table` (columns and check); nothing is written. */
  insertAllowed(role: string, session: Partial<SessionInput> | null, table: QualifiedTable, row: Record<string, unknown>): Promise<{ allowed: boolean; reason?: string }>;
  /** Starts the background processors (only needed with `autoStart: false`). */
  start(): void;
  close(): Promise<void>;
}

function pickSource(meta: HasuraMetadata, name: string | undefined): SourceMeta | undefined {
  if (name) {
    const s = meta.sources.find((x) => x.name === name);
    if (!s) throw new HarnessConfigError(`metadata has no source "${name}"`);
    return s;
  }
  return meta.sources.find((s) => s.name === 'default') ?? (meta.sources.length === 1 ? meta.sources[0] : undefined);
}

/** Hasura writes `hasura.user` as the session JSON with lower-case keys; the role is always present. */
function sessionJson(session: SessionVariables): string {
  return JSON.stringify(session);
}

function traceContext(): Record<string, string> {
  return { trace_id: randomBytes(16).toString('hex'), span_id: randomBytes(8).toString('hex') };
}

async function tableColumns(client: pg.PoolClient, t: QualifiedTable): Promise<ColumnInfo[]> {
  const r = await client.query<ColumnInfo>(
    `SELECT a.attname AS name, ty.typname AS type FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type ty ON ty.oid = a.atttypid
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [t.schema, t.name],
  );
  return r.rows;
}

export async function createHasuraHarness(options: HarnessOptions): Promise<HasuraHarness> {
  if ((options.metadataDir === undefined) === (options.metadata === undefined)) throw new HarnessConfigError('give exactly one of metadataDir and metadata');
  const metadata = options.metadata ?? readMetadataDir(options.metadataDir!);
  const env: Record<string, string | undefined> = { ...options.env };
  if (options.handlerBaseUrl !== undefined && env.NSELF_PLUGINS_URL === undefined) env.NSELF_PLUGINS_URL = options.handlerBaseUrl.replace(/\/+$/, '');
  const hasuraVersion = options.hasuraVersion ?? HASURA_VERSION;
  const source = pickSource(metadata, options.source);
  const tables = source?.tables ?? [];
  const inheritedRoles = new Map(metadata.inheritedRoles.map((r) => [r.role_name, r.role_set] as const));

  // Resolve everything up front: like Hasura's inconsistent-metadata report, every problem at once.
  const problems: string[] = [];
  const triggers = new Map<string, ResolvedEventTrigger>();
  for (const t of tables) {
    for (const et of t.event_triggers ?? []) {
      try {
        if (triggers.has(et.name)) throw new HarnessConfigError(`event trigger ${et.name}: defined twice`);
        if (!/^[A-Za-z]+[A-Za-z0-9_-]*$/.test(et.name)) throw new HarnessConfigError(`event trigger ${et.name}: invalid name`);
        if (et.request_transform || et.response_transform) throw new HarnessConfigError(`event trigger ${et.name}: request/response transforms are not supported by the harness`);
        const d = et.definition;
        if (!d.insert && !d.update && !d.delete && !d.enable_manual) throw new HarnessConfigError(`event trigger ${et.name}: at least one of insert, update, delete or enable_manual is required`);
        let url: string;
        if (et.webhook !== undefined && et.webhook_from_env !== undefined) throw new HarnessConfigError(`event trigger ${et.name}: only one of webhook and webhook_from_env`);
        if (et.webhook_from_env !== undefined) {
          const v = env[et.webhook_from_env];
          if (v === undefined) throw new HarnessConfigError(`event trigger ${et.name}: environment variable '${et.webhook_from_env}' not set`);
          url = v;
        } else if (et.webhook !== undefined) url = resolveTemplate(et.webhook, env, `event trigger ${et.name}`);
        else throw new HarnessConfigError(`event trigger ${et.name}: webhook or webhook_from_env is required`);
        triggers.set(et.name, {
          name: et.name,
          table: t.table,
          meta: et,
          url,
          headers: resolveHeaders(et.headers, env, `event trigger ${et.name}`),
          numRetries: et.retry_conf?.num_retries ?? 0,
          intervalSec: et.retry_conf?.interval_sec ?? 10,
          timeoutSec: et.retry_conf?.timeout_sec ?? 60,
        });
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  const crons = new Map<string, ResolvedCron>();
  for (const c of metadata.cronTriggers) {
    try {
      parseSchedule(c.schedule, `cron trigger ${c.name}`);
      if (c.request_transform) throw new HarnessConfigError(`cron trigger ${c.name}: request transforms are not supported by the harness`);
      crons.set(c.name, {
        name: c.name,
        meta: c,
        url: resolveTemplate(c.webhook, env, `cron trigger ${c.name}`),
        headers: resolveHeaders(c.headers, env, `cron trigger ${c.name}`),
        numRetries: c.retry_conf?.num_retries ?? 0,
        retryIntervalSec: c.retry_conf?.retry_interval_seconds ?? 10,
        timeoutSec: c.retry_conf?.timeout_seconds ?? 60,
        toleranceSec: c.retry_conf?.tolerance_seconds ?? 21600,
      });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length) throw new HarnessConfigError(`inconsistent metadata:\n  ${problems.join('\n  ')}`);

  const eventOpts = options.events ?? {};
  const httpPoolSize = eventOpts.httpPoolSize ?? 100;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 20 });
  // An idle connection that dies (server restart, a test dropping the database) belongs to no operation; the pool
  // discards it. Without a listener Node would crash the test process instead.
  pool.on('error', () => undefined);
  const http = new HttpClient(httpPoolSize);
  const clock = new HarnessClock();
  const errors: unknown[] = [];
  const onError = (e: unknown) => {
    errors.push(e);
  };

  let actions: ActionEngine;
  try {
    // Built before the database is touched: inconsistent actions leave nothing installed.
    actions = new ActionEngine(metadata, env, inheritedRoles, pool, http, {
      hasuraVersion,
      adminInternalErrors: true,
      devMode: options.devMode ?? false,
      fetchIntervalMs: options.asyncActionsFetchIntervalMs ?? 1000,
      onError,
    });
    await install(pool, triggers, options.stringifyNumericTypes ?? false);
  } catch (e) {
    http.close();
    await pool.end();
    throw e;
  }
  const events = new EventProcessor(pool, triggers, clock, http, {
    fetchBatchSize: eventOpts.fetchBatchSize ?? 100,
    httpPoolSize,
    fetchIntervalMs: eventOpts.fetchIntervalMs ?? 1000,
    hasuraVersion,
    onError,
  });
  const cron = new CronProcessor(pool, crons, clock, http, { fetchIntervalMs: options.cronFetchIntervalMs ?? 1000, hasuraVersion, onError });
  const permissions = new PermissionEngine(pool, tables, inheritedRoles);
  let closed = false;

  const throwIfFailed = () => {
    if (errors.length) {
      const e = errors.shift();
      throw e instanceof Error ? e : new Error(String(e));
    }
  };
  const wakeAll = () => {
    events.wake();
    cron.wake();
    actions.wake();
  };
  const busy = () => events.busy() || cron.busy() || actions.busy();
  const epoch = () => events.epoch + cron.epoch + actions.epoch;

  /** Deliverable work in the database: how much is due now, and when the next retry falls due. */
  async function pending(): Promise<{ due: number; next: Date | null }> {
    const now = clock.now().toISOString();
    const ev = await pool.query<{ due: string; next: Date | null }>(
      `SELECT count(*) FILTER (WHERE next_retry_at IS NULL OR next_retry_at <= ($2::timestamptz AT TIME ZONE 'UTC')) AS due,
              min(next_retry_at AT TIME ZONE 'UTC') FILTER (WHERE next_retry_at > ($2::timestamptz AT TIME ZONE 'UTC')) AS next
         FROM hdb_catalog.event_log
        WHERE delivered = 'f' AND error = 'f' AND archived = 'f' AND trigger_name = ANY($1)
          AND (locked IS NULL OR locked < $2::timestamptz - interval '30 minute')`,
      [events.names, now],
    );
    const cr = await pool.query<{ due: string; next: Date | null }>(
      `SELECT count(*) FILTER (WHERE coalesce(next_retry_at, scheduled_time) <= $2::timestamptz) AS due,
              min(coalesce(next_retry_at, scheduled_time)) FILTER (WHERE coalesce(next_retry_at, scheduled_time) > $2::timestamptz) AS next
         FROM hdb_catalog.hdb_cron_events WHERE status = 'scheduled' AND trigger_name = ANY($1)`,
      [cron.names, now],
    );
    const ac = await pool.query<{ due: string }>(`SELECT count(*) AS due FROM hdb_catalog.hdb_action_log WHERE status = 'created' AND action_name = ANY($1)`, [[...actions.actions.keys()]]);
    const nexts = [ev.rows[0]!.next, cr.rows[0]!.next].filter((d): d is Date => d !== null);
    return {
      due: Number(ev.rows[0]!.due) + Number(cr.rows[0]!.due) + Number(ac.rows[0]!.due),
      next: nexts.length ? new Date(Math.min(...nexts.map((d) => d.getTime()))) : null,
    };
  }

  const harness: HasuraHarness = {
    metadata,
    pool,
    clock,
    engines: { actions, permissions },

    async withSession(sessionInput, fn, opts = {}) {
      const session = toSessionVariables(sessionInput);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT set_config('hasura.user', $1, true)`, [sessionJson(session)]);
        const tc = opts.traceContext === undefined ? traceContext() : opts.traceContext;
        if (tc) await client.query(`SELECT set_config('hasura.tracecontext', $1, true)`, [JSON.stringify(tc)]);
        const result = await fn(client);
        await client.query('COMMIT');
        events.wake();
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },

    async invokeEventTrigger(name, payload, sessionInput) {
      const t = triggers.get(name);
      if (!t) throw new HasuraError(`event trigger with name "${name}" does not exist`, 'not-exists', '$.args.name');
      if (!t.meta.definition.enable_manual) throw new HasuraError('manual mode is not enabled for event trigger', 'not-supported', '$.args');
      const id = await harness.withSession(
        sessionInput ?? { role: 'admin' },
        async (c) => {
          const r = await c.query<{ id: string }>(
            `SELECT hdb_catalog.insert_event_log($1, $2, $3, 'MANUAL', json_build_object('old', NULL, 'new', $4::json)) AS id`,
            [t.table.schema, t.table.name, name, JSON.stringify(payload ?? null)],
          );
          return r.rows[0]!.id;
        },
        { traceContext: null },
      );
      return { event_id: id };
    },

    async redeliverEvent(eventId) {
      const r = await pool.query<{ locked: Date | null }>(`SELECT locked FROM hdb_catalog.event_log WHERE id = $1`, [eventId]);
      if (!r.rows[0]) throw new HasuraError(`event "${eventId}" does not exist`, 'not-exists', '$.args.event_id');
      const locked = r.rows[0].locked;
      if (locked && locked.getTime() > clock.now().getTime() - 30 * 60_000) throw new HasuraError('event is already being processed', 'not-supported', '$.args');
      await pool.query(`UPDATE hdb_catalog.event_log SET delivered = 'f', error = 'f', tries = 0 WHERE id = $1`, [eventId]);
      events.wake();
    },

    async graphql(document, variables, sessionInput, opts) {
      const result = await actions.execute(document, variables, toSessionVariables(sessionInput ?? null), opts);
      return result as GraphQLResult<never>;
    },

    asyncActionResult: (id) => actions.asyncActionResult(id),

    async fireCron(name, opts = {}) {
      cron.get(name);
      const id = await cron.schedule(name, opts.scheduledTime ?? clock.now());
      await cron.processOne(id);
      return (await cron.state(id))!;
    },

    nextCronTimes(name, count = 1, from) {
      return nextFireTimes(cron.get(name).meta.schedule, from ?? clock.now(), count);
    },

    async scheduleCronEvents(from, to) {
      let n = 0;
      for (const c of crons.values()) {
        for (const at of fireTimesBetween(c.meta.schedule, from, to, 10_000)) {
          await cron.schedule(c.name, at);
          n++;
        }
      }
      if (n) cron.wake();
      return n;
    },

    async advanceClock(to) {
      const start = clock.now();
      const occurrences: { name: string; at: Date }[] = [];
      for (const c of crons.values()) for (const at of fireTimesBetween(c.meta.schedule, start, to, 10_000)) occurrences.push({ name: c.name, at });
      occurrences.sort((a, b) => a.at.getTime() - b.at.getTime() || a.name.localeCompare(b.name));
      const fired: FiredCron[] = [];
      for (const o of occurrences) {
        clock.advanceTo(o.at);
        const id = await cron.schedule(o.name, o.at);
        await cron.processDue();
        fired.push((await cron.state(id))!);
      }
      clock.advanceTo(to);
      await cron.processDue();
      wakeAll();
      return fired;
    },

    async drain(opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 10_000;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        throwIfFailed();
        if (!busy()) {
          const before = epoch();
          const p = await pending();
          // Only a count taken while nothing moved is an answer: an event claimed and settled during the
          // count would show neither as due nor as in flight.
          if (p.due === 0 && !busy() && epoch() === before) {
            throwIfFailed();
            if (!p.next) return;
            if (opts.fastForward) {
              clock.advanceTo(p.next);
              wakeAll();
              continue;
            }
            const wait = p.next.getTime() - clock.now().getTime();
            if (Date.now() + wait > deadline) return;
            await delay(Math.max(wait, 1));
            wakeAll();
            continue;
          }
        }
        if (Date.now() > deadline) {
          const p = await pending();
          throw new Error(`drain: work still pending after ${timeoutMs} ms (${p.due} due in the database${busy() ? ', deliveries in flight' : ''})`);
        }
        wakeAll();
        await delay(5);
      }
    },

    async eventLog(trigger) {
      const r = await pool.query<EventLogRow>(
        `SELECT id, schema_name, table_name, trigger_name, payload, delivered, error, tries, created_at, locked, next_retry_at, archived
           FROM hdb_catalog.event_log WHERE $1::text IS NULL OR trigger_name = $1 ORDER BY created_at, id`,
        [trigger ?? null],
      );
      return r.rows;
    },

    async invocations(eventId) {
      const r = await pool.query<InvocationLogRow>(
        `SELECT id, trigger_name, event_id, status, request, response, created_at FROM hdb_catalog.event_invocation_logs WHERE event_id = $1 ORDER BY created_at, id`,
        [eventId],
      );
      return r.rows;
    },

    select: (role, session, table, where, opts) => permissions.select(toSessionVariables({ ...session, role }), table, where, opts),
    hasSelectPermission: (role, table) => permissions.hasSelectPermission(role, table),
    insertAllowed: (role, session, table, row) => permissions.insertAllowed(toSessionVariables({ ...session, role }), table, row),

    start() {
      events.start();
      cron.start();
      actions.start();
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([events.stop(), cron.stop(), actions.stop()]);
      http.close();
      await pool.end();
    },
  };
  if (options.autoStart ?? true) harness.start();
  return harness;
}

/**
 * Creates the catalog and one function + trigger per enabled operation of every event trigger, and drops
 * `notify_hasura_*` functions that no longer match the metadata (what `reload_metadata` would leave behind).
 */
async function install(pool: pg.Pool, triggers: ReadonlyMap<string, ResolvedEventTrigger>, stringifyNumbers: boolean): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('hdb_catalog install'))`);
    await client.query(CATALOG_SQL);
    const wanted = new Set<string>();
    const problems: string[] = [];
    for (const t of triggers.values()) {
      const columns = await tableColumns(client, t.table);
      if (columns.length === 0) {
        problems.push(`event trigger ${t.name}: table "${t.table.schema}"."${t.table.name}" does not exist`);
        continue;
      }
      for (const op of OPS) {
        if (!opSpec(t.meta, op)) continue;
        // Postgres truncates identifiers to 63 bytes; compare names the way they are stored.
        wanted.add(Buffer.from(notifyName(t.name, op)).subarray(0, 63).toString());
        try {
          await client.query('SAVEPOINT trig');
          await client.query(notifySql(t.table, t.meta, op, columns, { stringifyNumbers }));
          await client.query('RELEASE SAVEPOINT trig');
        } catch (e) {
          await client.query('ROLLBACK TO SAVEPOINT trig');
          problems.push(e instanceof HarnessConfigError ? e.message : `event trigger ${t.name} (${op}): ${(e as Error).message}`);
        }
      }
    }
    if (problems.length) throw new HarnessConfigError(`inconsistent metadata:\n  ${problems.join('\n  ')}`);
    const existing = await client.query<{ proname: string }>(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'hdb_catalog' AND p.proname LIKE 'notify\\_hasura\\_%'`,
    );
    for (const { proname } of existing.rows) {
      if (!wanted.has(proname)) await client.query(`DROP FUNCTION IF EXISTS hdb_catalog."${proname.replace(/"/g, '""')}"() CASCADE`);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
