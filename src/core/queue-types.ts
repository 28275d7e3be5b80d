import type { Job, JobsOptions, Queue, QueueOptions, Worker, WorkerOptions, Processor, QueueEvents } from 'bullmq';

/** One job of `QueueProvider.addBulk`. */
export interface BulkJob {
  queue: string;
  name: string;
  data: unknown;
  opts?: JobsOptions;
}

/** LISTEN/NOTIFY on the queue's PostgreSQL database. */
export interface QueueNotifications {
  /** Calls `onPayload` for every notification on `channel` until the returned function is called. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => void>;
  notify(channel: string, payload: string): Promise<void>;
}

/**
 * BullMQ behind one interface whatever the engine: Redis when `REDIS_URL` is set, otherwise BullMQ's
 * PostgreSQL backend (same Queue/Worker API). Queues are created once per name and shared.
 */
export interface QueueProvider {
  readonly backend: 'redis' | 'postgres';
  /** The shared Queue for `name` (created on first use). */
  queue(name: string, opts?: Omit<QueueOptions, 'connection'>): Queue;
  /** A new Worker for `name`; closed by `close()` unless closed earlier. */
  worker<D = any, R = any>(name: string, processor: Processor<D, R>, opts?: Omit<WorkerOptions, 'connection'>): Worker<D, R>;
  /**
   * Adds jobs to any number of queues at once, in one transaction where the backend has one: one SQL
   * statement on PostgreSQL (all jobs or none), one MULTI on Redis (no other client sees a part; Redis does
   * not roll back, so callers check the jobs before). Rejects if any job was refused. Jobs come back in order.
   */
  addBulk(jobs: readonly BulkJob[]): Promise<Job[]>;
  /** A new QueueEvents listener for `name`. */
  events(name: string): QueueEvents;
  /**
   * On the PostgreSQL backend: notifications carried by the connection the queues already LISTEN on, so a
   * channel of a plugin's own costs no connection. Absent on Redis.
   */
  readonly notifications?: QueueNotifications;
  /** Backend round trip used by `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
