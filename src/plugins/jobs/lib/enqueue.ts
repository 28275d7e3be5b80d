/**
 * Turning a job definition, data and per-run options into one BullMQ `add`. Shared by `defineJob(...).enqueue`
 * (other plugins' handlers) and the `jobsEnqueue` action, so both apply the same defaults and checks.
 */
import type { Job, JobsOptions } from 'bullmq';
import type { z } from 'zod';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { ServiceToken } from '../../../core/plugin.js';
import { jobsService } from './runtime.js';
import { jobsConfig, type JobsConfig } from '../config.js';
import type { JobDefinition } from './define-job.js';
import { jobIdProblem } from './names.js';
import { hasuraTimestampMs } from '../../../core/hasura-time.js';
import { storableProblem, textProblem } from './storable.js';

/** Longest a job may wait before its first run, whether given as `delayMs` or as `runAt`. */
export const MAX_DELAY_MS = 365 * 86_400_000;

export interface EnqueueOptions {
  /** Deduplication: a second enqueue with the same id (while the job is kept) returns the first job. */
  jobId?: string;
  delayMs?: number;
  /** Absolute start time (instead of `delayMs`). */
  runAt?: Date | string;
  /** 1 (highest) … 2,097,151; unset jobs run before prioritized ones, as in BullMQ. */
  priority?: number;
  attempts?: number;
  /** Base of the exponential backoff in ms for this run. */
  backoffMs?: number;
  /** Time one attempt may take, in ms (0: no limit). */
  timeoutMs?: number;
  /** Run before the jobs already waiting. */
  lifo?: boolean;
  /**
   * Deduplication by key instead of id: while a job with this key is waiting (or for `ttlMs`), further
   * enqueues are dropped; `replaceLatest` keeps the latest data while the first is still delayed.
   */
  dedup?: { key: string; ttlMs?: number; replaceLatest?: boolean };
}

export interface JobDefaults {
  attempts: number;
  backoffDelayMs: number;
  backoffJitter: number;
  timeoutMs: number;
  removeOnComplete: { age: number; count?: number };
  removeOnFail: { age: number; count?: number };
  /** Count limits, for the maintenance clean. */
  maxCompleted: number;
  maxFailed: number;
  /** Largest job data accepted, as JSON bytes. */
  maxDataBytes: number;
}

/**
 * On PostgreSQL, trimming the finished sets by count at every completion halves job throughput (measured
 * with BullMQ 6.7's backend), so there the count limits are enforced by the hourly `jobs_clean_finished`
 * cron instead; age limits apply at completion on both backends. On Redis both apply at completion, which
 * keeps memory bounded between cron runs.
 */
export function defaultsFrom(config: JobsConfig, backend: 'redis' | 'postgres' = 'redis'): JobDefaults {
  const keep = (age: number, count: number) => (backend === 'postgres' ? { age } : { age, count });
  return {
    attempts: config.JOBS_DEFAULT_ATTEMPTS,
    backoffDelayMs: config.JOBS_BACKOFF_DELAY_MS,
    backoffJitter: config.JOBS_BACKOFF_JITTER,
    timeoutMs: config.JOBS_DEFAULT_TIMEOUT_MS,
    removeOnComplete: keep(config.JOBS_COMPLETED_MAX_AGE_SECONDS, config.JOBS_COMPLETED_MAX_COUNT),
    removeOnFail: keep(config.JOBS_FAILED_MAX_AGE_SECONDS, config.JOBS_FAILED_MAX_COUNT),
    maxCompleted: config.JOBS_COMPLETED_MAX_COUNT,
    maxFailed: config.JOBS_FAILED_MAX_COUNT,
    maxDataBytes: config.JOBS_MAX_DATA_BYTES,
  };
}

/** The defaults of an unconfigured installation (the config schema's own defaults). */
export const BUILTIN_DEFAULTS: JobDefaults = defaultsFrom(jobsConfig.parse({}));

/** What a running jobs service lends `defineJob(...).enqueue` on the same provider: its settings and its batched adds. */
export interface Enqueuer {
  defaults: JobDefaults;
  add(queue: string, name: string, data: unknown, opts: JobsOptions): Promise<Job>;
}

/**
 * Where `defineJob(...).enqueue` adds a job: a handler's, job's or plugin runtime's context. Its service
 * lookup finds the running jobs service (configured defaults, batched adds); a bare `{ queue }` gets the
 * built-in defaults and a direct add.
 */
export interface EnqueueTarget {
  readonly queue: QueueProvider;
  optionalService?<T>(token: ServiceToken<T>): T | undefined;
}

/** The per-run timeout travels in the job's options, under a key of ours so it never meets a BullMQ option. */
export interface NselfJobOptions {
  timeoutMs?: number;
}

export function runTimeoutOf(job: Job): number | undefined {
  const n = (job.opts as { nself?: NselfJobOptions }).nself;
  return typeof n?.timeoutMs === 'number' ? n.timeoutMs : undefined;
}

export class JobDataError extends Error {
  constructor(
    readonly jobName: string,
    readonly issues: readonly { path: readonly PropertyKey[]; message: string }[],
  ) {
    super(
      `data of job "${jobName}" is invalid: ` +
        issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; '),
    );
    this.name = 'JobDataError';
  }
}

export class JobOptionsError extends Error {
  override name = 'JobOptionsError';
}

/**
 * Checks `data` for what the queue backends cannot store unchanged (see `storable.ts`), then against the
 * job's schema; the first check also keeps pathological input (deep nesting) away from the schema.
 */
export function parseJobData<S extends z.ZodType>(def: JobDefinition<S>, data: unknown, maxBytes = BUILTIN_DEFAULTS.maxDataBytes): z.output<S> {
  const unstorable = storableProblem(data, maxBytes);
  if (unstorable) throw new JobDataError(def.name, [unstorable]);
  const r = def.data.safeParse(data);
  if (!r.success) throw new JobDataError(def.name, r.error.issues);
  return r.data;
}

export function jobOptions(def: JobDefinition, opts: EnqueueOptions, defaults: JobDefaults): JobsOptions {
  if (opts.jobId !== undefined) {
    const problem = jobIdProblem(opts.jobId);
    if (problem) throw new JobOptionsError(problem);
  }
  if (opts.delayMs !== undefined && opts.runAt !== undefined) throw new JobOptionsError('give delayMs or runAt, not both');
  let delay = opts.delayMs ?? 0;
  if (!Number.isSafeInteger(delay) || delay < 0) throw new JobOptionsError('delayMs must be a whole number of milliseconds, 0 or more');
  if (opts.runAt !== undefined) {
    // A text without a zone is UTC, as every timestamp Hasura hands over is meant (never the server's local time).
    const at = opts.runAt instanceof Date ? opts.runAt.getTime() : hasuraTimestampMs(opts.runAt);
    if (!Number.isFinite(at)) throw new JobOptionsError('runAt must be a date');
    delay = Math.max(0, at - Date.now());
  }
  // One limit for both spellings of a delay: runAt is only another way to say delayMs.
  if (delay > MAX_DELAY_MS) {
    throw new JobOptionsError(`${opts.runAt !== undefined ? 'runAt' : 'delayMs'} is more than ${MAX_DELAY_MS / 86_400_000} days ahead`);
  }
  const dedupProblem = opts.dedup ? textProblem(opts.dedup.key) : null;
  if (dedupProblem) throw new JobOptionsError(`dedup key ${dedupProblem}`);
  const backoff = def.backoff;
  const attempts = opts.attempts ?? def.attempts ?? defaults.attempts;
  const o: JobsOptions & { nself?: NselfJobOptions } = {
    attempts,
    backoff:
      opts.backoffMs !== undefined
        ? { type: 'exponential', delay: opts.backoffMs, jitter: defaults.backoffJitter }
        : typeof backoff === 'number'
          ? { type: 'exponential', delay: backoff, jitter: defaults.backoffJitter }
          : backoff
            ? { type: backoff.type, delay: backoff.delayMs, jitter: backoff.jitter ?? defaults.backoffJitter }
            : { type: 'exponential', delay: defaults.backoffDelayMs, jitter: defaults.backoffJitter },
    // Explicit on every job rather than as queue defaults: a queue object another plugin created first
    // would otherwise carry no retention at all, and Redis would grow without bound.
    removeOnComplete: defaults.removeOnComplete,
    removeOnFail: defaults.removeOnFail,
  };
  if (delay > 0) o.delay = delay;
  const priority = opts.priority ?? def.priority;
  if (priority !== undefined) o.priority = priority;
  if (opts.jobId !== undefined) o.jobId = opts.jobId;
  if (opts.lifo) o.lifo = true;
  if (opts.timeoutMs !== undefined) o.nself = { timeoutMs: opts.timeoutMs };
  if (opts.dedup) {
    o.deduplication = {
      id: opts.dedup.key,
      ...(opts.dedup.ttlMs !== undefined ? { ttl: opts.dedup.ttlMs } : {}),
      ...(opts.dedup.replaceLatest ? { replace: true, extend: true } : {}),
    };
  }
  return o;
}

export interface EnqueuedJob {
  id: string;
  queue: string;
  name: string;
  /** The BullMQ job as added (for a deduplicated id, BullMQ kept the first one). */
  job: Job;
}

export async function enqueueWith<S extends z.ZodType>(
  target: EnqueueTarget,
  def: JobDefinition<S>,
  data: z.input<S>,
  opts: EnqueueOptions = {},
  enqueuer: Enqueuer | undefined = target.optionalService?.(jobsService)?.enqueuer(),
): Promise<EnqueuedJob> {
  // Validated now so a bad payload fails the caller, but stored as given: the worker parses it again, and
  // a schema's transforms (string → Date, defaults) must see the input shape there, not their own output.
  const defaults = enqueuer?.defaults ?? BUILTIN_DEFAULTS;
  parseJobData(def, data, defaults.maxDataBytes);
  const o = jobOptions(def, opts, defaults);
  const job = enqueuer && !opts.dedup ? await enqueuer.add(def.queue, def.name, data, o) : await target.queue.queue(def.queue).add(def.name, data, o);
  return { id: job.id!, queue: def.queue, name: def.name, job };
}
