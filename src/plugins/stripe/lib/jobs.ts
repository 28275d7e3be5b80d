/**
 * The plugin's background jobs: applying a recorded webhook event (job id = Stripe event id, so a replayed
 * webhook enqueues nothing new) and backfilling one object type (resumable, see backfill.ts).
 */
import { z } from 'zod';
import { defineJob, UnrecoverableError } from '../../jobs/index.js';
import type { StripeConfig } from '../config.js';
import { applyEvent } from './apply.js';
import { runBackfill, isTransient } from './backfill.js';
import { stripeClient } from './client.js';
import { LISTABLE_TYPES } from './objects.js';

export const applyEventJob = defineJob({
  name: 'stripe.apply-event',
  queue: 'stripe.events',
  data: z.object({ eventId: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/) }),
  // Each apply is a few short queries: more in flight hides the database round trips.
  concurrency: 16,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 60_000,
  description: 'Applies one recorded Stripe webhook event to the mirror (out-of-order safe, once).',
  handler: async ({ eventId }, ctx) => {
    const status = await applyEvent(eventId, {
      db: ctx.db,
      client: ctx.service(stripeClient).client,
      config: ctx.config as StripeConfig,
      log: ctx.log,
    });
    return { status };
  },
});

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
