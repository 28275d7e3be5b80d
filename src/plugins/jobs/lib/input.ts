/**
 * Runtime checks of every action's input beyond what the SDL types guarantee (ranges, lengths, formats).
 * A failure is a 400 naming the field; nothing is touched.
 */
import { z } from 'zod';
import { hasuraTimestampMs } from '../../../core/hasura-time.js';
import { jobsError } from './errors.js';
import { JOB_STATES } from './output.js';
import { textProblem } from './storable.js';
import { MAX_DELAY_MS } from './enqueue.js';

/** A string PostgreSQL can store (no U+0000, no lone surrogate): anything else is a 400 here, not a 500 later. */
const text = () =>
  z.string().superRefine((s, ctx) => {
    const problem = textProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const queue = text().min(1).max(100);
const jobId = text().min(1).max(512);
const ms = (max: number) => z.number().int().min(0).max(max);

const enqueueOptionsInput = z
    .object({
      jobId: text().nullish(),
      delayMs: ms(MAX_DELAY_MS).nullish(),
      runAt: text().max(64).nullish(),
      priority: z.number().int().min(1).max(2_097_151).nullish(),
      attempts: z.number().int().min(1).max(1000).nullish(),
      backoffMs: ms(86_400_000).nullish(),
      timeoutMs: ms(86_400_000).nullish(),
      lifo: z.boolean().nullish(),
      dedupKey: text().min(1).max(255).nullish(),
      dedupTtlMs: ms(365 * 86_400_000).nullish(),
    })
    .refine((o) => o.delayMs == null || o.runAt == null, { message: 'give delayMs or runAt, not both' })
    .refine((o) => o.dedupTtlMs == null || o.dedupKey != null, { message: 'dedupTtlMs needs dedupKey' })
    .refine((o) => o.runAt == null || Number.isFinite(hasuraTimestampMs(o.runAt)), { message: 'runAt must be an ISO-8601 timestamp (read as UTC without a zone)', path: ['runAt'] })
    .refine((o) => o.runAt == null || !Number.isFinite(hasuraTimestampMs(o.runAt)) || hasuraTimestampMs(o.runAt) - Date.now() <= MAX_DELAY_MS, {
      message: `runAt must be at most ${MAX_DELAY_MS / 86_400_000} days ahead (the limit of delayMs)`,
      path: ['runAt'],
    })
    .nullish();

export const enqueueInput = z.object({
  name: text().min(1).max(128),
  data: z.unknown().optional(),
  options: enqueueOptionsInput,
});

export const MAX_BULK = 1000;
export const enqueueBulkInput = z.object({
  jobs: z.array(enqueueInput).min(1).max(MAX_BULK, `at most ${MAX_BULK} jobs per call`),
});

export const jobRefInput = z.object({ queue, id: jobId });
export const cancelInput = jobRefInput.extend({ reason: text().max(500).nullish() });
export const queueInput = z.object({ queue });
export const drainInput = queueInput.extend({ delayed: z.boolean().nullish() });
export const listInput = z.object({
  queue,
  state: z.enum(JOB_STATES as [string, ...string[]]),
  cursor: text().max(200).nullish(),
  limit: z.number().int().min(1).max(100).nullish(),
});
export const statsInput = z.object({ queue: queue.nullish() });
export const scheduleInput = z.object({
  name: text().min(1).max(128),
  cron: text().min(1).max(200),
  timezone: text().min(1).max(64).nullish(),
  data: z.unknown().optional(),
  id: text().min(1).max(200).nullish(),
});
export const unscheduleInput = z.object({ id: text().min(1).max(200) });

/** Parses `input` or throws a 400 listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : 'input'}: ${i.message}`);
  throw jobsError('jobs/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

/** GraphQL enqueue options → the library's. */
export function enqueueOptions(o: z.output<typeof enqueueOptionsInput>) {
  if (!o) return {};
  return {
    ...(o.jobId != null ? { jobId: o.jobId } : {}),
    ...(o.delayMs != null ? { delayMs: o.delayMs } : {}),
    ...(o.runAt != null ? { runAt: o.runAt } : {}),
    ...(o.priority != null ? { priority: o.priority } : {}),
    ...(o.attempts != null ? { attempts: o.attempts } : {}),
    ...(o.backoffMs != null ? { backoffMs: o.backoffMs } : {}),
    ...(o.timeoutMs != null ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.lifo ? { lifo: true } : {}),
    ...(o.dedupKey != null ? { dedup: { key: o.dedupKey, ...(o.dedupTtlMs != null ? { ttlMs: o.dedupTtlMs } : {}) } } : {}),
  };
}
