/**
 * BullMQ on Redis when `REDIS_URL` is set, otherwise on BullMQ's own PostgreSQL backend, behind one
 * `QueueProvider`. Handlers and plugins only ever see BullMQ's Queue/Worker/QueueEvents API.
 */
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
  type JobProgress,
  type PgPool,
  type PgPoolClient,
  type PostgresConnectionOptions,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import type { BulkJob, QueueProvider } from './queue-types.js';

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
 * the worker then claims one, so a job added just after the stop began could still run here.
 */
class StoppingWorker<D, R, B extends IQueueBackend = RedisQueueBackend, C = ConnectionOptions> extends Worker<D, R, string, B, JobProgress, C> {
  protected override async moveToActive(token: string, name?: string): Promise<Job<D, R, string>> {
    // BullMQ reads an empty claim as "no job"; its own signature has no room for that.
    if (this.closing || this.paused) return undefined as unknown as Job<D, R, string>;
    return super.moveToActive(token, name);
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
  private readonly shared: SharedPostgres;
  private readonly factory: BackendFactory<PostgresQueueBackend, PostgresConnectionOptions>;

  constructor(databaseUrl: string, schema: string, poolMax: number, log: Logger | undefined) {
    super(log);
    if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) throw new Error(`invalid queue schema name: ${schema}`);
    if (!Number.isInteger(poolMax) || poolMax < 1) throw new Error(`invalid queue pool size: ${poolMax}`);
    this.shared = new SharedPostgres(databaseUrl, schema, poolMax, log);
    this.factory = sharedPoolBackendFactory(this.shared);
  }

  // BullMQ ignores `connection` when a backend factory builds the connection; the option is still
  // required by its types, so the shared pool is named there.
  protected newQueue(name: string, opts: Omit<QueueOptions, 'connection'>): Queue {
    return new Queue(name, { ...opts, connection: this.shared.pool }, this.factory) as unknown as Queue;
  }
  protected newWorker<D, R>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'>): Worker<D, R> {
    return new StoppingWorker<D, R, PostgresQueueBackend, PostgresConnectionOptions>(name, processor, { ...opts, connection: this.shared.pool }, this.factory) as unknown as Worker<D, R>;
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
    await withTimeout(this.shared.pool.query('select 1'), 'PostgreSQL ping');
  }

  protected async closeConnections(): Promise<void> {
    await this.shared.close();
  }
}

/** `application_name` of the provider's pooled connections (BullMQ renames each LISTEN connection after its queue). */
export const QUEUE_APPLICATION_NAME = 'nself-plugins:queue';

/**
 * One provider's PostgreSQL resources. Left to itself, BullMQ gives every Queue, Worker and QueueEvents a
 * `pg.Pool` of its own (up to 10 connections each), so connections grow with the number of queues and a
 * few replicas exhaust a stock `max_connections`. Here every object runs its queries through one bounded
 * pool; only the objects that block (Worker, QueueEvents) add a connection each, for LISTEN.
 */
class SharedPostgres {
  readonly pool: pg.Pool;
  /** Settings of every connection, pooled or LISTEN: BullMQ's SQL names its tables unqualified. */
  private readonly clientConfig: pg.ClientConfig;
  private migration: Promise<void> | undefined;
  /** LISTEN connections being closed, awaited by close() so none outlives the provider. */
  private readonly ending = new Set<Promise<void>>();
  private closed: Promise<void> | undefined;

  constructor(
    databaseUrl: string,
    readonly schema: string,
    poolMax: number,
    private readonly log: Logger | undefined,
  ) {
    this.clientConfig = clientConfig(databaseUrl, schema);
    this.pool = new pg.Pool({ ...this.clientConfig, max: poolMax });
    // An idle pooled connection that drops emits here; without a listener it would crash the process.
    this.pool.on('error', (err) => this.log?.warn({ err }, 'queue database pool error'));
  }

  /**
   * BullMQ's schema, brought up to date once per provider (BullMQ would otherwise migrate once per
   * object). Its advisory lock keeps N replicas starting at once safe. A failure is retried on next use.
   */
  migrated(): Promise<void> {
    this.migration ??= (async () => {
      const client = await this.pool.connect();
      try {
        await runQueueMigrations(client, this.schema);
      } finally {
        client.release();
      }
    })().catch((e: unknown) => {
      this.migration = undefined;
      throw e;
    });
    return this.migration;
  }

  /**
   * A connection of its own for one object's LISTEN: a LISTEN subscription lives on one connection for
   * the object's whole life, so taking it from the bounded pool would starve the queries.
   */
  async openListenClient(): Promise<PgPoolClient> {
    if (this.closed) throw new Error('queue provider is closed');
    const client = new pg.Client({ ...this.clientConfig, keepAlive: true, keepAliveInitialDelayMillis: LISTEN_KEEPALIVE_MS });
    try {
      await client.connect();
    } catch (e) {
      // A failed connect may leave a half-open socket behind.
      void client.end().catch(() => undefined);
      throw e;
    }
    // BullMQ gives a LISTEN client back with release(), which for this one means closing it.
    return Object.assign(client, {
      release: () => {
        // BullMQ drops every listener first; a socket error while ending must not crash the process.
        client.on('error', () => undefined);
        const ended = client.end().catch(() => undefined);
        this.ending.add(ended);
        void ended.finally(() => this.ending.delete(ended));
      },
    });
  }

  /** Called once, after every Queue, Worker and QueueEvents is closed: BullMQ never ends a pool it was given. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all(this.ending);
      await this.pool.end();
    })();
    return this.closed;
  }
}

/** Idle time before TCP keepalive probes a LISTEN connection, so a silent drop is noticed in seconds (as BullMQ does). */
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
 * A BullMQ connection whose queries go to the provider's shared pool. BullMQ's own handling of the
 * LISTEN connection (naming it after the worker for getWorkers(), rebuilding it after a drop, closing
 * it) is kept: it asks the "pool" for a client, and gets a dedicated connection.
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
    // BullMQ reads this to decide how long a worker may block on LISTEN; ours always keep alive.
    options: { keepAlive: true },
    query: (text: string, params?: readonly unknown[]) => shared.pool.query(text, params as unknown[] | undefined),
    connect: () => shared.openListenClient(),
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
  return view as PgPool;
}

/** createPostgresBackend, with every backend's connection built on the shared pool. */
function sharedPoolBackendFactory(shared: SharedPostgres): BackendFactory<PostgresQueueBackend, PostgresConnectionOptions> {
  return (name, opts, factoryOpts = {}) => {
    // The names BullMQ gives the LISTEN connection, which getWorkers()/getQueueEvents() look for in
    // pg_stat_activity (see createPostgresBackend).
    const workerName = (opts as { name?: string }).name;
    let listenClientName: string | undefined;
    if (factoryOpts.withBlockingConnection) listenClientName = workerName ? `${name}:w:${workerName}` : name;
    else if (factoryOpts.blocking) listenClientName = `${name}:qe`;
    return new PostgresQueueBackend(new SharedPoolConnection(shared), name, opts, true, listenClientName);
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
