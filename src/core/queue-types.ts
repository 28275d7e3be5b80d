import type { Queue, QueueOptions, Worker, WorkerOptions, Processor, QueueEvents } from 'bullmq';

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
  /** A new QueueEvents listener for `name`. */
  events(name: string): QueueEvents;
  /** Backend round trip used by `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
