/**
 * BullMQ on Redis when `REDIS_URL` is set, otherwise on BullMQ's own PostgreSQL backend, behind one
 * `QueueProvider`. Handlers and plugins only ever see BullMQ's Queue/Worker/QueueEvents API.
 */
import {
  Queue,
  QueueEvents,
  Worker,
  createPostgresBackend,
  runMigrations as runQueueMigrations,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import type { QueueProvider } from './queue-types.js';

export interface QueueProviderOptions {
  /** Redis (or Redis Cluster entry point) URL; when unset, the PostgreSQL backend is used. */
  redisUrl?: string;
  /** Used by the PostgreSQL backend (and ignored with Redis). */
  databaseUrl: string;
  log?: Logger;
  /** PostgreSQL schema holding BullMQ's tables (default `nself_jobs`). */
  schema?: string;
}

export const DEFAULT_QUEUE_SCHEMA = 'nself_jobs';
/** /readyz must answer even when the backend hangs (Redis queues commands while it reconnects). */
const PING_TIMEOUT_MS = 3000;

interface Closable {
  close(): Promise<void>;
}

export function createQueueProvider(opts: QueueProviderOptions): QueueProvider {
  return opts.redisUrl ? new RedisQueueProvider(opts.redisUrl, opts.log) : new PostgresQueueProvider(opts.databaseUrl, opts.schema ?? DEFAULT_QUEUE_SCHEMA, opts.log);
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
  abstract ping(): Promise<void>;
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

  private track(c: Closable): void {
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
    return new Worker<D, R>(name, processor, { ...opts, connection: this.connection });
  }
  protected newEvents(name: string): QueueEvents {
    return new QueueEvents(name, { connection: this.connection });
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
  private readonly connection: { connectionString: string; schema: string; migrate: true };
  /** A one-connection pool of our own for ping(), independent of BullMQ's per-object pools. */
  private readonly pingPool: pg.Pool;

  constructor(databaseUrl: string, schema: string, log: Logger | undefined) {
    super(log);
    if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) throw new Error(`invalid queue schema name: ${schema}`);
    // migrate: true makes each connection bring BullMQ's schema up to date on first use; BullMQ serialises
    // that with its own advisory lock, so N replicas starting at once are safe.
    this.connection = { connectionString: databaseUrl, schema, migrate: true };
    this.pingPool = new pg.Pool({ connectionString: databaseUrl, max: 1, idleTimeoutMillis: 10_000, connectionTimeoutMillis: PING_TIMEOUT_MS });
    this.pingPool.on('error', (err) => this.log?.warn({ err }, 'queue ping pool error'));
  }

  protected newQueue(name: string, opts: Omit<QueueOptions, 'connection'>): Queue {
    return new Queue(name, { ...opts, connection: this.connection }, createPostgresBackend) as unknown as Queue;
  }
  protected newWorker<D, R>(name: string, processor: Processor<D, R>, opts: Omit<WorkerOptions, 'connection'>): Worker<D, R> {
    return new Worker(name, processor, { ...opts, connection: this.connection }, createPostgresBackend) as unknown as Worker<D, R>;
  }
  protected newEvents(name: string): QueueEvents {
    return new QueueEvents(name, { connection: this.connection }, createPostgresBackend) as unknown as QueueEvents;
  }

  private migrated: Promise<void> | undefined;

  async ping(): Promise<void> {
    // The first successful ping also brings BullMQ's schema up to date, so readiness means jobs can be
    // added, not merely that the server answers. A failure is retried on the next ping.
    this.migrated ??= this.migrate().catch((e: unknown) => {
      this.migrated = undefined;
      throw e;
    });
    await withTimeout(this.migrated, 'queue schema migration');
    await withTimeout(this.pingPool.query('select 1'), 'PostgreSQL ping');
  }

  private async migrate(): Promise<void> {
    const client = await this.pingPool.connect();
    try {
      await runQueueMigrations(client, this.connection.schema);
    } finally {
      client.release();
    }
  }

  protected async closeConnections(): Promise<void> {
    await this.pingPool.end();
  }
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
