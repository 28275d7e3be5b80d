/**
 * `defineJob`: a typed background job. Plugins list their jobs in their manifest's `jobs`, apps put one per
 * file in `JOBS_DIR`; the jobs plugin registers them, runs their workers and exposes them through GraphQL.
 */
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { CoreConfig, Db, ServiceToken } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { EnqueueOptions, EnqueuedJob, EnqueueTarget } from './enqueue.js';
import { enqueueWith } from './enqueue.js';

export interface JobBackoff {
  type: 'exponential' | 'fixed';
  /** Base delay in ms (exponential: doubled each attempt). */
  delayMs: number;
  /** Random share (0–1) taken off each delay. */
  jitter?: number;
}

export interface JobRateLimit {
  /** At most `max` jobs of the queue start per `durationMs`, across all workers. */
  max: number;
  durationMs: number;
}

export interface JobSchedule {
  /** Cron expression (5 fields, or 6 with seconds first). */
  cron: string;
  /** IANA time zone the expression is read in (default UTC). */
  tz?: string;
  /** Data of every scheduled run (validated against the job's schema at boot). */
  data?: unknown;
}

export interface JobInfo {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  /** 1 for the first run. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly createdAt: Date;
}

/**
 * What a job's handler gets besides its data. Destructure it or pass it on as it is (e.g. to
 * `someJob.enqueue(ctx, …)`): its members are built on first use, so a copy made with `{ ...ctx }` lacks them.
 */
export interface JobContext<C = Record<string, unknown>> {
  readonly job: JobInfo;
  /** Aborted when the attempt times out or the job is cancelled: pass it to fetch, streams, queries. */
  readonly signal: AbortSignal;
  /** Reports progress (a percentage or any JSON object), visible in `jobsGet` and the dashboard. */
  progress(value: number | Record<string, unknown>): Promise<void>;
  readonly log: Logger;
  readonly db: Db;
  readonly queue: QueueProvider;
  /** Settings of the plugin that defined the job (the jobs plugin's for the app's own jobs). */
  readonly config: Readonly<C>;
  readonly core: Readonly<CoreConfig>;
  /** Features of the defining plugin that are on (empty for the app's own jobs). */
  readonly features: ReadonlySet<string>;
  /** A service of the defining plugin or of a plugin it depends on, as in a handler's `ctx.service`. */
  service<T>(token: ServiceToken<T>): T;
  /** Like `service`, but `undefined` when the owning plugin or feature is off. */
  optionalService<T>(token: ServiceToken<T>): T | undefined;
}

export interface JobSpec<S extends z.ZodType, R, C> {
  /** Unique name; a plugin's jobs start with `<plugin>.`. */
  name: string;
  /** Queue it runs on (default `default`): one of the default queues or a namespaced `<plugin>.<name>`. */
  queue?: string;
  /** zod schema of the job's data, checked when enqueued and again when run. */
  data: S;
  /** Jobs of this queue one worker runs at once (all jobs on one queue must agree). */
  concurrency?: number;
  /** Runs in total, first included. */
  attempts?: number;
  /** Retry delay: a number is the base of an exponential backoff in ms. */
  backoff?: JobBackoff | number;
  /** Time one attempt may take, in ms (0: no limit). */
  timeout?: number;
  /** Queue-wide start rate (all jobs on one queue must agree). */
  rateLimit?: JobRateLimit;
  /** Default priority, 1 (highest) … 2,097,151. */
  priority?: number;
  /** Runs the job on a cron schedule from boot on. */
  schedule?: JobSchedule;
  description?: string;
  /** For a plugin's jobs: registered (and run) only while this feature of the plugin is on. */
  feature?: string;
  handler: (data: z.output<S>, ctx: JobContext<C>) => Promise<R>;
}

export const JOB_DEFINITION = Symbol.for('nself-plugins.job-definition');

export interface JobDefinition<S extends z.ZodType = z.ZodType, R = unknown, C = any> extends Readonly<JobSpec<S, R, C>> {
  readonly [JOB_DEFINITION]: true;
  readonly queue: string;
  /**
   * Enqueues a run of this job on `ctx.queue`. Pass a handler's, job's or plugin runtime's context: through
   * its service lookup the add uses the running jobs service's settings and batching.
   */
  enqueue(ctx: EnqueueTarget, data: z.input<S>, opts?: EnqueueOptions): Promise<EnqueuedJob>;
}

export function defineJob<S extends z.ZodType, R = unknown, C = Record<string, unknown>>(spec: JobSpec<S, R, C>): JobDefinition<S, R, C> {
  const def: JobDefinition<S, R, C> = {
    ...spec,
    queue: spec.queue ?? 'default',
    [JOB_DEFINITION]: true,
    enqueue: (ctx, data, opts) => enqueueWith(ctx, def, data, opts),
  };
  return Object.freeze(def);
}

/** Structural check, so a job file that bundles its own copy of this module still loads. */
export function isJobDefinition(value: unknown): value is JobDefinition {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string | symbol, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.handler === 'function' &&
    !!v.data &&
    typeof (v.data as { safeParse?: unknown }).safeParse === 'function'
  );
}
