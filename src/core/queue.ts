/**
 * BullMQ on Redis when `REDIS_URL` is set, otherwise on BullMQ's own PostgreSQL backend, behind one
 * `QueueProvider`. Handlers and plugins only ever see BullMQ's Queue/Worker/QueueEvents API.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  PostgresConnection,
  PostgresQueueBackend,
  FlowProducer,
  Queue,
  QueueEvents,
  QueueKeys,
  RedisQueueBackend,
  Worker,
  type Job,
  runMigrations as runQueueMigrations,
  type BackendFactory,
  type ConnectionOptions,
  type IQueueBackend,
  type JobJson,
  type JobProgress,
  type PgPool,
  type PostgresConnectionOptions,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import type { BulkJob, QueueNotifications, QueueProvider } from './queue-types.js';

export interface QueueProviderOptions {
  /** Redis (or Redis Cluster entry point) URL; when unset, the PostgreSQL backend is used. */
  redisUrl?: string;
  /** Used by the PostgreSQL backend (and ignored with Redis). */
  databaseUrl: string;
  log?: Logger;
  /** PostgreSQL schema holding BullMQ's tables (default `nself_jobs`). */
  schema?: string;
  /**
   * Most connections the PostgreSQL backend's shared query pool opens (default 10). Each Worker and
   * QueueEvents holds one more, for LISTEN.
   */
  poolMax?: number;
}

export const DEFAULT_QUEUE_SCHEMA = 'nself_jobs';
export const DEFAULT_QUEUE_POOL_MAX = 10;
/** /readyz must answer even when the backend hangs (Redis queues commands while it reconnects). */
const PING_TIMEOUT_MS = 3000;

interface Closable {
  close(): Promise<void>;
}

export function createQueueProvider(opts: QueueProviderOptions): QueueProvider {
  return opts.redisUrl
    ? new RedisQueueProvider(opts.redisUrl, opts.log)
    : new PostgresQueueProvider(opts.databaseUrl, opts.schema ?? DEFAULT_QUEUE_SCHEMA, opts.poolMax ?? DEFAULT_QUEUE_POOL_MAX, opts.log);
}

/** What both backends share: one Queue per name, every Worker/QueueEvents tracked and closed once. */
abstract class BaseProvider implements QueueProvider {
  abstract readonly backend: 'redis' | 'postgres';
  protected readonly queues = new Map<string, Queue>();
  protected readonly children = new Set<Closable>();
  private closing: Promise<void> | undefined;

  constructor(protected readonly log: Logger | undefined) {}

  protected abstract newQueue(name: string, opts: Omit<QueueOptions, 'connection'>): Queue;
  protected abstract newWorker<D, R>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'>): Worker<D, R>;
  protected abstract newEvents(name: string): QueueEvents;
  protected abstract newFlowProducer(): FlowProducer<IQueueBackend, unknown>;
  abstract ping(): Promise<void>;
  private flows: FlowProducer<IQueueBackend, unknown> | undefined;
  protected abstract closeConnections(): Promise<void>;

  /** `opts` apply when the queue is first created; later calls return that same instance. */
  queue(name: string, opts: Omit<QueueOptions, 'connection'> = {}): Queue {
    this.assertOpen();
    let q = this.queues.get(name);
    if (!q) {
      q = this.newQueue(name, opts);
      // Errors surface through the operations that fail; the listener keeps an emitted 'error' from
      // crashing the process (EventEmitter throws when nobody listens).
      q.on('error', (err) => this.log?.warn({ err, queue: name }, 'queue error'));
      this.queues.set(name, q);
    }
    return q;
  }

  worker<D = any, R = any>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'> = {}): Worker<D, R> {
    this.assertOpen();
    const w = this.newWorker<D, R>(name, processor, opts);
    w.on('error', (err) => this.log?.warn({ err, queue: name }, 'worker error'));
    this.track(w);
    return w;
  }

  events(name: string): QueueEvents {
    this.assertOpen();
    const e = this.newEvents(name);
    e.on('error', (err) => this.log?.warn({ err, queue: name }, 'queue events error'));
    this.track(e);
    return e;
  }

  async addBulk(jobs: readonly BulkJob[]): Promise<Job[]> {
    this.assertOpen();
    if (jobs.length === 0) return [];
    const queue = jobs[0]!.queue;
    if (this.bulkInOneQueueIsAtomic && jobs.every((j) => j.queue === queue)) {
      return this.queue(queue).addBulk(jobs.map((j) => ({ name: j.name, data: j.data, ...(j.opts ? { opts: j.opts } : {}) })));
    }
    for (const j of jobs) this.queue(j.queue);
    if (!this.flows) {
      const flows = this.newFlowProducer();
      flows.on('error', (err) => this.log?.warn({ err }, 'flow producer error'));
      strictAddFlow(flows);
      this.track(flows);
      this.flows = flows;
      const close = flows.close.bind(flows);
      flows.close = async () => {
        if (this.flows === flows) this.flows = undefined;
        await close();
      };
    }
    // Each job is a flow without children: BullMQ's one atomic add across queues.
    const trees = await this.flows.addBulk(jobs.map((j) => ({ queueName: j.queue, name: j.name, data: j.data, ...(j.opts ? { opts: j.opts } : {}) })));
    if (!trees) throw new Error('queue provider is closed');
    return trees.map((t) => t.job as Job);
  }

  /** Whether `Queue.addBulk` on one queue is already all-or-nothing (one SQL statement), and faster than a flow. */
  protected abstract readonly bulkInOneQueueIsAtomic: boolean;

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Workers first so no job starts while queues go away; then listeners and queues; the shared
      // connection last, as everything above still uses it while closing.
      const workers = [...this.children].filter((c) => c instanceof Worker);
      await settleAll(workers.map((w) => w.close()), this.log);
      await settleAll([...this.children].filter((c) => !(c instanceof Worker)).map((c) => c.close()), this.log);
      await settleAll([...this.queues.values()].map((q) => q.close()), this.log);
      this.children.clear();
      this.queues.clear();
      await this.closeConnections();
    })();
    return this.closing;
  }

  protected track(c: Closable): void {
    this.children.add(c);
    // One closed early by its owner is forgotten, so long-running servers do not accumulate them.
    const origClose = c.close.bind(c);
    c.close = async () => {
      this.children.delete(c);
      await origClose();
    };
  }

  private assertOpen(): void {
    if (this.closing) throw new Error('queue provider is closed');
  }
}

/**
 * BullMQ's FlowProducer.addBulk leaves a job it could not add without an id and reports nothing; here the
 * first refusal rejects the call instead (PostgreSQL then has added none; Redis ran the rest of its MULTI).
 */
function strictAddFlow(flows: FlowProducer<IQueueBackend, unknown>): void {
  const backend = flows.getBackend();
  const addFlow = backend.addFlow.bind(backend);
  backend.addFlow = async (entries: Parameters<IQueueBackend['addFlow']>[0]) => {
    const results = await addFlow(entries);
    const failed = results.find(([err, id]) => err || (typeof id === 'number' && id < 0));
    if (failed) throw failed[0] ?? new Error(`the queue backend refused a job (code ${String(failed[1])})`);
    return results;
  };
}

/**
 * A Worker that takes no job once it is closing or paused. BullMQ checks that flag before it blocks, but
 * not after: on the PostgreSQL backend, close() ends the blocking wait as if a job had been announced and
 * the worker then claimed one, so a job added just after the stop began could still run here. And a job
 * finishing as the stop begins fetches the next one in the same statement (decided a moment before);
 * such a job is handed back to the queue at once instead of being run.
 */
class StoppingWorker<D, R, B extends IQueueBackend = RedisQueueBackend, C = ConnectionOptions> extends Worker<D, R, string, B, JobProgress, C> {
  protected override async moveToActive(token: string, name?: string): Promise<Job<D, R, string>> {
    // BullMQ reads an empty claim as "no job"; its own signature has no room for that.
    if (this.closing || this.paused) return undefined as unknown as Job<D, R, string>;
    return super.moveToActive(token, name);
  }

  protected override async nextJobFromJobData(jobData?: JobJson, jobId?: string, token?: string): Promise<Job<D, R, string>> {
    if (jobData && jobId && (this.closing || this.paused)) {
      // Back to waiting, unlocked (and announced), for the next worker.
      await this.getBackend().moveJobFromActiveToWait(jobId, token);
      return super.nextJobFromJobData(undefined, undefined, token);
    }
    return super.nextJobFromJobData(jobData, jobId, token);
  }
}

class RedisQueueProvider extends BaseProvider {
  readonly backend = 'redis' as const;
  /** Shared by every Queue and Worker; BullMQ duplicates it for the blocking reads of workers and events. */
  private readonly connection: Redis;

  constructor(url: string, log: Logger | undefined) {
    super(log);
    // BullMQ requires maxRetriesPerRequest: null on connections used by workers (blocking commands).
    this.connection = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
    this.connection.on('error', (err) => this.log?.warn({ err }, 'redis connection error'));
  }

  protected newQueue(name: string, opts: Omit<QueueOptions, 'connection'>): Queue {
    return new Queue(name, { ...opts, connection: this.connection });
  }
  protected newWorker<D, R>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'>): Worker<D, R> {
    return new StoppingWorker<D, R>(name, processor, { ...opts, connection: this.connection });
  }
  protected newEvents(name: string): QueueEvents {
    return new QueueEvents(name, { connection: this.connection });
  }
  // Redis pipelines a queue's addBulk without MULTI; a flow goes in one MULTI.
  protected readonly bulkInOneQueueIsAtomic = false;
  protected newFlowProducer(): FlowProducer<IQueueBackend, unknown> {
    return new FlowProducer({ connection: this.connection }) as unknown as FlowProducer<IQueueBackend, unknown>;
  }

  async ping(): Promise<void> {
    const reply = await withTimeout(this.connection.ping(), 'redis PING');
    if (reply !== 'PONG') throw new Error(`redis answered ${reply} to PING`);
  }

  protected async closeConnections(): Promise<void> {
    // QUIT waits for the server; a connection that never came up (or is reconnecting) is just dropped.
    if (this.connection.status !== 'ready') {
      this.connection.disconnect();
      return;
    }
    try {
      await this.connection.quit();
    } catch {
      this.connection.disconnect();
    }
  }
}

class PostgresQueueProvider extends BaseProvider {
  readonly backend = 'postgres' as const;
  readonly notifications: QueueNotifications;
  private readonly shared: SharedPostgres;
  private readonly factory: BackendFactory<PostgresQueueBackend, PostgresConnectionOptions>;

  constructor(databaseUrl: string, schema: string, poolMax: number, log: Logger | undefined) {
    super(log);
    if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) throw new Error(`invalid queue schema name: ${schema}`);
    if (!Number.isInteger(poolMax) || poolMax < 1) throw new Error(`invalid queue pool size: ${poolMax}`);
    this.shared = new SharedPostgres(databaseUrl, schema, poolMax, log);
    this.factory = sharedPoolBackendFactory(this.shared);
    const { listeners, pool, gate } = this.shared;
    this.notifications = {
      listen: (channel, onPayload) => listeners.subscribe(channel, onPayload),
      notify: async (channel, payload) => {
        await gate.run(() => pool.query('SELECT pg_notify($1, $2)', [channel, payload]));
      },
    };
  }

  // BullMQ ignores `connection` when a backend factory builds the connection; the option is still
  // required by its types, so the shared pool is named there.
  protected newQueue(name: string, opts: Omit<QueueOptions, 'connection'>): Queue {
    return new Queue(name, { ...opts, connection: this.shared.pool }, this.factory) as unknown as Queue;
  }
  protected newWorker<D, R>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'>): Worker<D, R> {
    return new StoppingWorker<D, R, PostgresQueueBackend, PostgresConnectionOptions>(
      name,
      processor,
      { drainDelay: pgDrainDelay(), ...opts, connection: this.shared.pool },
      this.factory,
    ) as unknown as Worker<D, R>;
  }
  protected newEvents(name: string): QueueEvents {
    return new QueueEvents(name, { connection: this.shared.pool }, this.factory) as unknown as QueueEvents;
  }
  // One queue's addBulk is a single INSERT statement; a flow spans queues in a single statement too.
  protected readonly bulkInOneQueueIsAtomic = true;
  protected newFlowProducer(): FlowProducer<IQueueBackend, unknown> {
    return new FlowProducer({ connection: this.shared.pool }, this.factory) as unknown as FlowProducer<IQueueBackend, unknown>;
  }

  async ping(): Promise<void> {
    // Readiness means jobs can be added, not merely that the server answers: the first successful ping
    // also brings BullMQ's schema up to date.
    await withTimeout(this.shared.migrated(), 'queue schema migration');
    const { gate, pool } = this.shared;
    await withTimeout(gate.run(() => pool.query('select 1')), 'PostgreSQL ping');
  }

  protected async closeConnections(): Promise<void> {
    await this.shared.close();
  }
}

/** `application_name` of the provider's pooled connections. */
export const QUEUE_APPLICATION_NAME = 'nself-plugins:queue';
/** `application_name` of the provider's one LISTEN connection. */
export const QUEUE_LISTEN_APPLICATION_NAME = 'nself-plugins:queue-listen';
/** The table where the names BullMQ gives its LISTEN connections are kept (see ListenHub). */
const LISTENER_TABLE = 'nself_listener';

/**
 * One provider's PostgreSQL resources. Left to itself, BullMQ gives every Queue, Worker and QueueEvents a
 * `pg.Pool` of its own (up to 10 connections each), and every Worker and QueueEvents a LISTEN connection
 * more, so an idle replica with a handful of queues held about ten connections and a few replicas exhausted
 * a stock `max_connections`. Here every object runs its queries through one bounded pool that closes idle
 * connections, and all of them LISTEN through one connection (see ListenHub).
 */
class SharedPostgres {
  readonly pool: pg.Pool;
  readonly listeners: ListenHub;
  private migration: Promise<void> | undefined;
  /** Every query BullMQ runs goes through here (see DemandGate). */
  readonly gate: DemandGate;
  private closed: Promise<void> | undefined;

  constructor(
    databaseUrl: string,
    readonly schema: string,
    poolMax: number,
    private readonly log: Logger | undefined,
  ) {
    // Settings of every connection, pooled or LISTEN: BullMQ's SQL names its tables unqualified.
    const config = clientConfig(databaseUrl, schema);
    this.pool = new pg.Pool({ ...config, max: poolMax, idleTimeoutMillis: POOL_IDLE_MS });
    this.gate = new DemandGate(poolMax);
    // An idle pooled connection that drops emits here; without a listener it would crash the process.
    this.pool.on('error', (err) => this.log?.warn({ err }, 'queue database pool error'));
    this.listeners = new ListenHub({ ...config, application_name: QUEUE_LISTEN_APPLICATION_NAME }, () => this.migrated(), log);
  }

  /**
   * BullMQ's schema, brought up to date once per provider (BullMQ would otherwise migrate once per
   * object), with the listener table of ours beside it. Its advisory lock keeps N replicas starting at
   * once safe. A failure is retried on next use.
   */
  migrated(): Promise<void> {
    this.migration ??= (async () => {
      const client = await this.pool.connect();
      try {
        await runQueueMigrations(client, this.schema);
        await client.query('BEGIN');
        // The same lock for every replica: CREATE TABLE IF NOT EXISTS alone races with itself.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('nself-plugins:queue-listener-table'))");
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${LISTENER_TABLE} (id uuid PRIMARY KEY, pid integer NOT NULL, backend_start timestamptz NOT NULL, name text NOT NULL)`,
        );
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    })().catch((e: unknown) => {
      this.migration = undefined;
      throw e;
    });
    return this.migration;
  }

  /** Called once, after every Queue, Worker and QueueEvents is closed: BullMQ never ends a pool it was given. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.listeners.close();
      await this.pool.end();
    })();
    return this.closed;
  }
}

/**
 * How long a pooled connection may sit idle before it is closed. Short: an idle replica only polls now and
 * then, and should hold no pooled connection in between; under load the pool stays busy.
 */
const POOL_IDLE_MS = 2_000;
/** How long queries wait for a busy connection before one more may be opened. */
const GROW_AFTER_MS = 20;
/** Queries finished in the last second or two from which on the load counts as work, not as polling. */
const BUSY_QUERIES = 50;
/** How long without any query waiting before one connection fewer may be used. */
const SHRINK_AFTER_MS = 1_000;

/**
 * How many queries may run on the shared pool at once. pg.Pool opens a connection for every query that
 * finds none idle, so the few queries an idle replica makes at one moment (its workers wake to poll and
 * sweep for stalled jobs, all at once when started together) each opened a connection, kept alive by the
 * next round. Here they take turns on one connection. Under work (more than `BUSY_QUERIES` a second or
 * so), one more connection may be used each time queries have waited `GROW_AFTER_MS`, up to the pool's
 * size; after `SHRINK_AFTER_MS` in which none waited, one fewer. Unused connections close after the pool's
 * idle timeout.
 */
class DemandGate {
  private limit = 1;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private grow: NodeJS.Timeout | undefined;
  private lastWait = 0;
  /** Queries finished in the current second and in the one before. */
  private finished = { since: Date.now(), now: 0, before: 0 };

  constructor(private readonly max: number) {}

  async run<T>(query: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else {
      this.lastWait = Date.now();
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.armGrow();
      });
    }
    try {
      return await query();
    } finally {
      this.release();
    }
  }

  /** The slot goes straight to the next waiter, so no newcomer can slip past the limit. */
  private release(): void {
    const now = Date.now();
    const f = this.finished;
    if (now - f.since >= 1000) {
      f.before = now - f.since >= 2000 ? 0 : f.now;
      f.now = 0;
      f.since = now;
    }
    f.now++;
    const next = this.waiting.shift();
    if (next) return next();
    this.running--;
    if (this.limit > 1 && now - this.lastWait > SHRINK_AFTER_MS) {
      this.limit--;
      this.lastWait = now;
    }
  }

  private armGrow(): void {
    if (this.grow || this.limit >= this.max) return;
    this.grow = setTimeout(() => {
      this.grow = undefined;
      if (!this.waiting.length) return;
      if (this.finished.now + this.finished.before >= BUSY_QUERIES) {
        this.limit++;
        this.running++;
        this.waiting.shift()!();
      }
      if (this.waiting.length) this.armGrow();
    }, GROW_AFTER_MS);
    // A waiting query keeps the process alive through the one it waits for; the timer alone must not.
    this.grow.unref();
  }
}

/** Idle time before TCP keepalive probes the LISTEN connection, so a silent drop is noticed in seconds (as BullMQ does). */
const LISTEN_KEEPALIVE_MS = 10_000;

function clientConfig(databaseUrl: string, schema: string): pg.ClientConfig {
  const searchPath = `-c search_path="${schema}"`;
  // node-postgres lets parameters in the URL override the config object, so `options` given in the URL
  // would silently drop the search_path: merge them here instead.
  const url = new URL(databaseUrl);
  const given = url.searchParams.get('options');
  if (given !== null) url.searchParams.delete('options');
  return {
    connectionString: given === null ? databaseUrl : url.toString(),
    options: given ? `${given} ${searchPath}` : searchPath,
    // A name set in the URL or PGAPPNAME still wins.
    fallback_application_name: QUEUE_APPLICATION_NAME,
  };
}

/**
 * One LISTEN connection for every Worker and QueueEvents of a provider. BullMQ's PostgreSQL backend
 * listens on two channels shared by all queues (`bullmq_jobs`, `bullmq_events`, the queue's name as
 * payload) and filters by payload, so one connection can carry every object's subscription: each object
 * gets a stand-in client that records its LISTENs and receives the notifications of its channels.
 *
 * BullMQ also names each object's LISTEN connection (`application_name`) so that `getWorkers()` finds
 * workers across processes in `pg_stat_activity`. One connection cannot carry many names, so the names are
 * kept in a table, keyed by the LISTEN connection's backend (pid and start time): rows of a connection that
 * is gone no longer match and are swept at the next connect. `getClientList` reads them back.
 *
 * When the connection drops, every stand-in reports the error, as a dedicated connection would: BullMQ then
 * asks for a new client and LISTENs again, and the first such request opens a new connection.
 */
class ListenHub {
  private conn: Promise<pg.Client> | undefined;
  private readonly clients = new Set<StandInListenClient>();
  /** Channels of `subscribe`, listened to again on every new connection (BullMQ does that for its own). */
  private readonly subscribers = new Map<string, Set<(payload: string) => void>>();
  private retry: NodeJS.Timeout | undefined;
  private closing = false;
  /** Statements on the connection, one at a time (node-postgres deprecates overlapping ones). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly ready: () => Promise<void>,
    private readonly log: Logger | undefined,
  ) {}

  async attach(): Promise<StandInListenClient> {
    if (this.closing) throw new Error('queue provider is closed');
    await this.connection();
    const client = new StandInListenClient(this);
    this.clients.add(client);
    return client;
  }

  /** The LISTEN connection, opened on first use and again after a drop. */
  connection(): Promise<pg.Client> {
    this.conn ??= this.open().catch((e: unknown) => {
      this.conn = undefined;
      throw e;
    });
    return this.conn;
  }

  private async open(): Promise<pg.Client> {
    await this.ready();
    const client = new pg.Client({ ...this.config, keepAlive: true, keepAliveInitialDelayMillis: LISTEN_KEEPALIVE_MS });
    try {
      await client.connect();
      // Names of LISTEN connections that have ended.
      await client.query(
        `DELETE FROM ${LISTENER_TABLE} l WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start)`,
      );
    } catch (e) {
      // A failed connect may leave a half-open socket behind.
      void client.end().catch(() => undefined);
      throw e;
    }
    for (const channel of this.subscribers.keys()) await client.query(`LISTEN ${channel}`);
    client.on('notification', (msg) => {
      for (const c of this.clients) c.deliver(msg);
      for (const fn of this.subscribers.get(msg.channel) ?? []) fn(msg.payload ?? '');
    });
    const dropped = (err: Error) => {
      if (this.closing) return;
      void this.conn?.then((current) => {
        if (current !== client) return;
        this.conn = undefined;
        this.log?.warn({ err }, 'queue LISTEN connection lost; listening again on a new one');
        void client.end().catch(() => undefined);
        // As a dedicated connection would: BullMQ drops the client and asks for a new one.
        for (const c of [...this.clients]) c.fail(err);
        this.resubscribe();
      });
    };
    client.on('error', dropped);
    client.on('end', () => dropped(new Error('queue LISTEN connection ended')));
    return client;
  }

  /** Listens on `channel` for a caller of our own until the returned function is called. */
  async subscribe(channel: string, onPayload: (payload: string) => void): Promise<() => void> {
    if (this.closing) throw new Error('queue provider is closed');
    let fns = this.subscribers.get(channel);
    if (!fns) this.subscribers.set(channel, (fns = new Set()));
    fns.add(onPayload);
    try {
      await this.listen(channel);
    } catch (e) {
      fns.delete(onPayload);
      throw e;
    }
    return () => {
      fns.delete(onPayload);
      // The LISTEN itself stays: harmless, and gone with the connection.
    };
  }

  /** After a drop, our own subscribers have no BullMQ to ask for a new connection: open one for them. */
  private resubscribe(): void {
    if (this.closing || this.retry || ![...this.subscribers.values()].some((s) => s.size)) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connection().catch((err: unknown) => {
        this.log?.warn({ err }, 'queue LISTEN connection could not be opened again; retrying');
        this.resubscribe();
      });
    }, 1000);
    this.retry.unref();
  }

  private exec(text: string, params?: unknown[]): Promise<unknown> {
    const run = this.chain.then(async () => (await this.connection()).query(text, params));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async listen(channel: string): Promise<void> {
    // Channels are identifiers here, never quoted: only names that need no quoting.
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`unexpected LISTEN channel ${channel}`);
    // LISTEN on a connection that already listens is a no-op, so nothing needs tracking here.
    await this.exec(`LISTEN ${channel}`);
  }

  async register(id: string, name: string): Promise<void> {
    await this.exec(
      `INSERT INTO ${LISTENER_TABLE} (id, pid, backend_start, name)
         SELECT $1, pid, backend_start, $2 FROM pg_stat_activity WHERE pid = pg_backend_pid()
       ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, backend_start = excluded.backend_start, name = excluded.name`,
      [id, name],
    );
  }

  detach(client: StandInListenClient): void {
    this.clients.delete(client);
    // After a drop there is nothing to remove: the row no longer matches a live connection.
    if (!client.named || this.closing || !this.conn) return;
    this.exec(`DELETE FROM ${LISTENER_TABLE} WHERE id = $1`, [client.id]).catch((err: unknown) =>
      this.log?.warn({ err }, 'could not remove a queue listener name'),
    );
  }

  /** The names of every live LISTEN connection's objects, across processes (BullMQ's CLIENT LIST). */
  static listNames(pool: pg.Pool): Promise<string[]> {
    return pool
      .query<{ name: string }>(
        `SELECT l.name FROM ${LISTENER_TABLE} l JOIN pg_stat_activity a ON a.pid = l.pid AND a.backend_start = l.backend_start`,
      )
      .then((r) => r.rows.map((row) => row.name));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) clearTimeout(this.retry);
    this.clients.clear();
    this.subscribers.clear();
    await this.chain;
    const conn = await this.conn?.catch(() => undefined);
    this.conn = undefined;
    if (!conn) return;
    // Its rows go with it: the name table is keyed by this connection's backend.
    await conn.query(`DELETE FROM ${LISTENER_TABLE} WHERE pid = pg_backend_pid()`).catch(() => undefined);
    await conn.end().catch(() => undefined);
  }
}

/** What one BullMQ object sees as its LISTEN client: the statements BullMQ sends it, carried by the hub. */
class StandInListenClient extends EventEmitter {
  readonly id = randomUUID();
  named = false;
  private readonly channels = new Set<string>();
  private released = false;

  constructor(private readonly hub: ListenHub) {
    super();
  }

  /** BullMQ sends `LISTEN <channel>` (after a comment) and `SELECT set_config('application_name', $1, false)`. */
  async query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> {
    const listen = /^\s*LISTEN\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$/im.exec(text.replace(/--[^\n]*/g, ''));
    if (listen) {
      const channel = listen[1]!.toLowerCase();
      await this.hub.listen(channel);
      this.channels.add(channel);
      return { rows: [] };
    }
    if (/set_config\(\s*'application_name'/.test(text) && typeof params?.[0] === 'string') {
      await this.hub.register(this.id, params[0]);
      this.named = true;
      return { rows: [{ set_config: params[0] }] };
    }
    throw new Error('the shared queue LISTEN connection only takes LISTEN and the connection name');
  }

  deliver(msg: pg.Notification): void {
    if (this.channels.has(msg.channel)) this.emit('notification', msg);
  }

  fail(err: Error): void {
    // Without a listener EventEmitter would throw; BullMQ listens until it releases the client.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.release();
  }

  /** BullMQ gives the client back when its object closes or after the connection failed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.removeAllListeners('notification');
    this.hub.detach(this);
  }
}

/** The channel BullMQ's adds notify, with the queue's name as payload (read from BullMQ, where it is private). */
const JOBS_CHANNEL = (PostgresQueueBackend as unknown as { NOTIFY_CHANNEL: string }).NOTIFY_CHANNEL;

/**
 * How often, in seconds, an idle worker on PostgreSQL looks for work it was not told about (BullMQ's
 * `drainDelay`, 5 s by default): every look is four queries, and an idle replica with a worker per queue
 * looking every 5 s kept several pooled connections busy. Work is announced by NOTIFY (adds, and the
 * operations PooledPostgresBackend announces), so this is only the fallback. Each worker gets its own value
 * around it, so workers started together do not keep looking at the same moment.
 */
const PG_DRAIN_DELAY_SECONDS = 30;
const pgDrainDelay = () => Math.round(PG_DRAIN_DELAY_SECONDS * (0.75 + Math.random() / 2));

/**
 * BullMQ's PostgreSQL backend on the provider's shared resources. Worker discovery reads the listener names
 * (ListenHub). And the operations that make a job claimable without BullMQ announcing it (promoting, resuming,
 * shortening a delay, recovering stalled jobs, lifting a rate limit) announce it here, on the channel adds use:
 * otherwise a waiting worker only finds the job at its next poll, and workers here poll rarely (see
 * PG_DRAIN_DELAY_SECONDS).
 */
class PooledPostgresBackend extends PostgresQueueBackend {
  constructor(
    private readonly shared: SharedPostgres,
    private readonly name: string,
    opts: PostgresConnectionOptions & Record<string, unknown>,
    listenClientName: string | undefined,
  ) {
    super(new SharedPoolConnection(shared), name, opts as never, true, listenClientName);
  }

  private async announce<T>(done: T): Promise<T> {
    await this.shared.gate.run(() => this.shared.pool.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, this.name]));
    return done;
  }

  override async promote(jobId: string): Promise<void> {
    return this.announce(await super.promote(jobId));
  }
  override async promoteJobs(count?: number): Promise<number> {
    return this.announce(await super.promoteJobs(count));
  }
  override async pause(pause: boolean): Promise<void> {
    await super.pause(pause);
    if (!pause) await this.announce(undefined);
  }
  override async changeDelay(jobId: string, delay: number): Promise<void> {
    return this.announce(await super.changeDelay(jobId, delay));
  }
  override async moveStalledJobsToWait(): Promise<string[]> {
    const ids = await super.moveStalledJobsToWait();
    return ids.length ? this.announce(ids) : ids;
  }
  override async removeRateLimitKey(): Promise<number> {
    return this.announce(await super.removeRateLimitKey());
  }

  override async getClientList(): Promise<string[]> {
    // As BullMQ's own list (every named session of the database), plus the names the hub carries.
    const [own, shared] = await Promise.all([super.getClientList(), ListenHub.listNames(this.shared.pool)]);
    return [[own[0], ...shared.map((n) => `name=${n}`)].filter(Boolean).join('\n')];
  }
}

/**
 * A BullMQ connection whose queries go to the provider's shared pool and whose LISTEN client is a stand-in
 * on the provider's one LISTEN connection. BullMQ's own handling of the LISTEN client (naming it for
 * getWorkers(), asking for a new one after a drop, giving it back on close) is kept.
 */
class SharedPoolConnection extends PostgresConnection {
  // BullMQ records the schema only for pools it builds itself.
  override readonly schema: string;
  private readiness: Promise<void> | undefined;

  constructor(private readonly shared: SharedPostgres) {
    super(poolView(shared));
    this.schema = shared.schema;
  }

  /** Readiness is the shared migration, run once per provider, instead of one schema check per object. */
  override waitUntilReady(): Promise<void> {
    this.readiness ??= this.shared.migrated().then(
      () => {
        // As BullMQ does: deferred, so listeners attached right after construction still hear it.
        setTimeout(() => this.emit('ready'), 0);
      },
      (e: unknown) => {
        this.readiness = undefined;
        throw e;
      },
    );
    return this.readiness;
  }
}

/**
 * What one BullMQ object sees as its `pg.Pool`. BullMQ ends only pools it built, so `end` is never
 * called; `connect` is only reached for the LISTEN client, as readiness never checks a client out.
 */
function poolView(shared: SharedPostgres): PgPool {
  const events = new EventEmitter();
  const view = {
    // BullMQ reads this to decide how long a worker may block on LISTEN; the hub's connection keeps alive.
    options: { keepAlive: true },
    query: (text: string, params?: readonly unknown[]) => shared.gate.run(() => shared.pool.query(text, params as unknown[] | undefined)),
    connect: () => shared.listeners.attach(),
    end: async () => undefined,
    on(event: string, listener: (...args: any[]) => void) {
      events.on(event, listener);
      return view;
    },
    removeAllListeners(event?: string) {
      events.removeAllListeners(event);
      return view;
    },
  };
  return view as unknown as PgPool;
}

/** createPostgresBackend, with every backend built on the provider's shared resources. */
function sharedPoolBackendFactory(shared: SharedPostgres): BackendFactory<PostgresQueueBackend, PostgresConnectionOptions> {
  return (name, opts, factoryOpts = {}) => {
    // The names BullMQ gives the LISTEN connection, which getWorkers()/getQueueEvents() look for
    // (see createPostgresBackend).
    const workerName = (opts as { name?: string }).name;
    let listenClientName: string | undefined;
    if (factoryOpts.withBlockingConnection) listenClientName = workerName ? `${name}:w:${workerName}` : name;
    else if (factoryOpts.blocking) listenClientName = `${name}:qe`;
    return new PooledPostgresBackend(shared, name, opts as never, listenClientName);
  };
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function settleAll(ps: Promise<unknown>[], log: Logger | undefined): Promise<void> {
  for (const r of await Promise.allSettled(ps)) {
    if (r.status === 'rejected') log?.warn({ err: r.reason }, 'error while closing a queue object');
  }
}

/* ------------------------------------------------------------------ BullMQ's own key names */

let keyNames: ReadonlySet<string> | undefined;

/**
 * Every name BullMQ keeps directly under a queue's key prefix on Redis (`bull:<queue>:<name>`: `wait`,
 * `delayed`, `repeat`, `meta`, …, and the namespaces `de:`, `dn:`, `metrics:` …). A job's hash lives at
 * `bull:<queue>:<job id>`, so a job id equal to one of these lands on a queue structure and breaks the queue
 * for good. Read from BullMQ itself (its key list and the key names its Lua scripts and classes build), so
 * an upgrade that adds a key is covered without anyone updating a list here.
 */
export function backendKeyNames(): ReadonlySet<string> {
  keyNames ??= readBackendKeyNames();
  return keyNames;
}

function readBackendKeyNames(): ReadonlySet<string> {
  const names = new Set(Object.keys(new QueueKeys().getKeys('q')).filter(Boolean));
  const add = (key: string) => names.add(key.split(':')[0]!);
  const dist = dirname(createRequire(import.meta.url).resolve('bullmq'));
  // `prefix .. "delayed"`, `baseKey .. 'metrics:failed'`: Lua strings appended to a queue's key prefix.
  const luaKey = /\b\w*(?:[Pp]refix\w*|baseKey)\s*\.\.\s*["']([a-z][a-z-]*(?::[a-z-]*)*)["']/g;
  // `this.toKey('repeat')`, `toKey(`metrics:${type}`)`: keys the classes build under the same prefix.
  const jsKey = /\btoKey\(\s*['"`]([a-z][a-z-]*)/g;
  const scan = (dir: string, ext: string, re: RegExp) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
    } catch {
      return;
    }
    for (const file of entries.filter((f) => f.endsWith(ext))) {
      for (const m of readFileSync(join(dir, file), 'utf8').matchAll(re)) add(m[1]!);
    }
  };
  scan(join(dist, 'commands'), '.lua', luaKey);
  scan(join(dist, 'classes'), '.js', jsKey);
  return names;
}

export interface QueueDamage {
  /** The backend key holding something other than what BullMQ keeps there. */
  key: string;
  problem: string;
}

/**
 * What in a queue's storage would break BullMQ's own operations: on Redis, a job hash sitting on one of
 * BullMQ's own keys (a job once added with an id such as `repeat` or `delayed`), after which every call
 * touching that key fails with WRONGTYPE. The PostgreSQL backend keys jobs by (queue, id) columns, so
 * no id reaches its structures.
 */
export async function queueDamage(queue: Queue): Promise<QueueDamage[]> {
  const backend = queue.getBackend();
  if (!(backend instanceof RedisQueueBackend)) return [];
  const client = await backend.client;
  const damage: QueueDamage[] = [];
  // Every job hash has a `timestamp` field and none of BullMQ's own keys has one; on a key of another
  // type the command fails with WRONGTYPE, which means the key is BullMQ's own.
  await Promise.all(
    [...backendKeyNames()].map(async (name) => {
      const key = queue.toKey(name);
      const found = await client.hexists(key, 'timestamp').catch(() => 0);
      if (found === 1) damage.push({ key, problem: `holds a job with id "${name}", which is one of BullMQ's own key names` });
    }),
  );
  damage.sort((a, b) => a.key.localeCompare(b.key));
  return damage;
}

/** A job taken out of a queue by `repairRedisQueue`: its id and its hash as stored. */
export interface RemovedJob {
  id: string;
  fields: Record<string, string>;
}

/**
 * Takes the jobs found by `queueDamage` out of a Redis queue: each job's hash (and the keys hung off it) is
 * deleted and its id removed from every state list and set, in one MULTI, so the key is BullMQ's again.
 * A job sitting on the queue's `meta` hash is merged with the queue's own settings and cannot be told
 * apart from them; it is left and reported. Returns the removed jobs, so their data can be kept elsewhere.
 */
export async function repairRedisQueue(redis: Redis, queue: Queue): Promise<{ removed: RemovedJob[]; left: QueueDamage[] }> {
  const removed: RemovedJob[] = [];
  const left: QueueDamage[] = [];
  for (const damage of await queueDamage(queue)) {
    const id = damage.key.slice(queue.toKey('').length);
    if (id === 'meta') {
      left.push({ ...damage, problem: `${damage.problem}; its fields are mixed with the queue's settings: remove the job's fields (name, data, opts, timestamp, …) from it by hand` });
      continue;
    }
    const fields = await redis.hgetall(damage.key);
    const k = (name: string) => queue.toKey(name);
    const tx = redis.multi();
    // The hash first: with it gone the key may be the state list of the same name again.
    tx.del(damage.key, ...['logs', 'lock', 'dependencies', 'processed', 'failed', 'unsuccessful'].map((s) => `${damage.key}:${s}`));
    for (const list of ['wait', 'paused', 'active']) tx.lrem(k(list), 0, id);
    for (const set of ['prioritized', 'delayed', 'completed', 'failed', 'waiting-children']) tx.zrem(k(set), id);
    tx.srem(k('stalled'), id);
    const results = (await tx.exec()) ?? [];
    // A state structure of another type only fails its own command; the deletion is what must succeed.
    if (results[0]?.[0]) throw results[0][0];
    removed.push({ id, fields });
  }
  return { removed, left };
}
