/**
 * The plugin's background jobs: applying a recorded webhook event (job id = Stripe event id, so a replayed
 * webhook enqueues nothing new) and backfilling one object type (resumable, see backfill.ts).
 */
import { z } from 'zod';
import { defineJob, UnrecoverableError, type EnqueueTarget } from '../../jobs/index.js';
import type { StripeConfig } from '../config.js';
import { applyEvent } from './apply.js';
import { runBackfill, isTransient } from './backfill.js';
import { stripeClient } from './client.js';
import { LISTABLE_TYPES } from './objects.js';

const EVENT_ID = z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/);
/** Most events one apply job carries: the queue's work per job (add, fetch, completion) is shared by them. */
export const APPLY_BATCH = 25;

export const applyEventJob = defineJob({
  name: 'stripe.apply-event',
  queue: 'stripe.events',
  // One event (a replay of a pending one, the reconcile's pick) or the events of deliveries that arrived together.
  data: z.union([z.object({ eventId: EVENT_ID }).strict(), z.object({ eventIds: z.array(EVENT_ID).min(1).max(APPLY_BATCH) }).strict()]),
  // Each apply is a few short queries: more in flight hides the database round trips.
  concurrency: 16,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 60_000,
  description: 'Applies recorded Stripe webhook events to the mirror (out-of-order safe, once).',
  handler: async (data, ctx) => {
    const deps = { db: ctx.db, client: ctx.service(stripeClient).client, config: ctx.config as StripeConfig, log: ctx.log };
    if ('eventId' in data) return { status: await applyEvent(data.eventId, deps) };
    // Each event in its own transaction: one that fails leaves the others applied, and the job's retry finds
    // them done (no longer pending) and applies only what is left.
    const settled = await Promise.allSettled(data.eventIds.map((id) => applyEvent(id, deps)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return { statuses: settled.map((r) => (r as PromiseFulfilledResult<string>).value) };
  },
});

/**
 * Enqueues the application of recorded events: one alone keeps the event id as job id (a second enqueue of a
 * pending event is a no-op); events recorded together share jobs of up to APPLY_BATCH. A batch job's id is made
 * of its first event, so a repeated enqueue of the same batch is a no-op too; an event in two jobs is applied
 * once (the apply locks it and acts only while it is pending).
 */
export async function enqueueApplies(ctx: EnqueueTarget, eventIds: readonly string[]): Promise<void> {
  const unique = [...new Set(eventIds)];
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < unique.length; i += APPLY_BATCH) {
    const ids = unique.slice(i, i + APPLY_BATCH);
    jobs.push(ids.length === 1 ? applyEventJob.enqueue(ctx, { eventId: ids[0]! }, { jobId: ids[0]! }) : applyEventJob.enqueue(ctx, { eventIds: ids }, { jobId: `b${ids.length}-${ids[0]}` }));
  }
  await Promise.all(jobs);
}

export const backfillJob = defineJob({
  name: 'stripe.backfill',
  queue: 'stripe.sync',
  data: z.object({ type: z.enum(LISTABLE_TYPES as [string, ...string[]]), runId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/) }),
  concurrency: 2,
  attempts: 10,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeout: 0,
  description: 'Mirrors every object of one type from the API, page by page, resuming from its checkpoint.',
  handler: async ({ type, runId }, ctx) => {
    const client = ctx.service(stripeClient).client;
    if (!client) throw new UnrecoverableError('STRIPE_SECRET_KEY is not set');
    const lastAttempt = ctx.job.attempt >= ctx.job.maxAttempts;
    try {
      const cp = await runBackfill(type, runId, { db: ctx.db, client, log: ctx.log, pageSize: (ctx.config as StripeConfig).STRIPE_BACKFILL_PAGE_SIZE, signal: ctx.signal }, lastAttempt);
      return { status: cp.status, synced: Number(cp.synced) };
    } catch (e) {
      if (!isTransient(e)) throw new UnrecoverableError((e as Error).message);
      throw e;
    }
  },
});

export const STRIPE_JOBS = [applyEventJob, backfillJob];
