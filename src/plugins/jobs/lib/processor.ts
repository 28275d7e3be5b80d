/**
 * The function BullMQ runs for each job of a queue: finds the definition by job name, checks the data
 * against its schema, and runs the handler under a per-attempt timeout and a cancel signal.
 * BullMQ itself has no per-job timeout, so an attempt that overruns is failed here (and retried like any
 * other failure); the handler's `ctx.signal` is aborted so well-behaved work stops too.
 */
import { UnrecoverableError, type Job, type Processor } from 'bullmq';
import type { Logger } from 'pino';
import type { CoreConfig, Db } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { JobContext } from './define-job.js';
import type { JobRegistry } from './registry.js';
import { runTimeoutOf } from './enqueue.js';
import { JobCancelledError, type CancelListener } from './cancel-bus.js';

export class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
  }
}

export interface ProcessorDeps {
  queueName: string;
  registry: JobRegistry;
  provider: QueueProvider;
  db: Db;
  log: Logger;
  core: Readonly<CoreConfig>;
  /** Settings handed to the app's own jobs. */
  appConfig: Readonly<Record<string, unknown>>;
  pluginConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  defaultTimeoutMs: number;
  cancels: CancelListener | null;
}

export function createProcessor(deps: ProcessorDeps): Processor {
  // One parameter on purpose: BullMQ tracks an AbortController per job for processors that take its
  // signal (arity ≥ 3); cancellation goes through our own controller, so that bookkeeping would be waste.
  return async (job: Job) => {
    const entry = deps.registry.get(job.name);
    // Unknown names and bad data cannot get better by retrying: straight to the dead-letter set.
    if (!entry) throw new UnrecoverableError(`no job named "${job.name}" is registered in this process`);
    const parsed = entry.def.data.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`invalid data: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }

    const ctl = new AbortController();
    const unwatch = deps.cancels?.watch(deps.queueName, job.id!, (reason) => ctl.abort(new JobCancelledError(reason)));
    const timeoutMs = runTimeoutOf(job) ?? entry.def.timeout ?? deps.defaultTimeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => ctl.abort(new JobTimeoutError(timeoutMs)), timeoutMs) : null;
    const aborted = new Promise<never>((_, reject) => {
      ctl.signal.addEventListener('abort', () => reject(ctl.signal.reason as Error), { once: true });
    });
    // An abort after the handler already settled must not surface as an unhandled rejection.
    aborted.catch(() => undefined);

    // Created on first use: most attempts succeed without logging, and a child logger per job is not free.
    let log: Logger | undefined;
    const jobLog = () => (log ??= deps.log.child({ queue: deps.queueName, jobId: job.id, job: job.name, attempt: job.attemptsMade + 1 }));
    const ctx: JobContext = {
      job: {
        id: job.id!,
        name: job.name,
        queue: deps.queueName,
        attempt: job.attemptsMade + 1,
        maxAttempts: job.opts.attempts ?? 1,
        createdAt: new Date(job.timestamp),
      },
      signal: ctl.signal,
      progress: (value) => job.updateProgress(value),
      get log() {
        return jobLog();
      },
      db: deps.db,
      queue: deps.provider,
      config: entry.plugin ? (deps.pluginConfig.get(entry.plugin) ?? {}) : deps.appConfig,
      core: deps.core,
    };
    try {
      return await Promise.race([entry.def.handler(parsed.data, ctx), aborted]);
    } catch (err) {
      jobLog().warn({ err }, 'job attempt failed');
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      unwatch?.();
    }
  };
}
