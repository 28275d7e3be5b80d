/**
 * BullMQ on Redis when `REDIS_URL` is set, otherwise on BullMQ's own PostgreSQL backend, behind one
 * `QueueProvider`. Handlers and plugins only ever see BullMQ's Queue/Worker/QueueEvents API.
 */
import {
  FlowProducer,
  PostgresQueueBackend,
  Queue,
  QueueEvents,
  RedisQueueBackend,
  Worker,
  type BackendFactory,
  type ConnectionOptions,
  type IQueueBackend,
  type Job,
  type JobJson,
  type JobProgress,
  type PostgresConnectionOptions,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BulkJob, QueueNotifications, QueueProvider } from './queue-types.js';
import { pgDrainDelay, SharedPostgres, sharedPoolBackendFactory } from './queue-postgres.js';

export { QUEUE_APPLICATION_NAME, QUEUE_LISTEN_APPLICATION_NAME } from './queue-postgres.js';
export { backendKeyNames, queueDamage, repairRedisQueue, type QueueDamage, type RemovedJob } from './queue-keys.js';

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
