import type { CronHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { beginRuns } from '../../src/plugins/stripe/lib/backfill.js';
import { stripeClient } from '../../src/plugins/stripe/lib/client.js';
import { applyEventJob, backfillJob } from '../../src/plugins/stripe/lib/jobs.js';
import { LISTABLE_TYPES } from '../../src/plugins/stripe/lib/objects.js';

/**
 * Nightly: backfills every mirrored type again (what webhooks missed: an endpoint that was down, events past
 * Stripe's retry window) and re-enqueues events recorded but never applied. The run id is the cron event's,
 * so a redelivered cron resumes the same run instead of starting another.
 */
export const stripeReconcile: CronHandler<unknown, StripeConfig> = async (cron, ctx) => {
  const stuck = await ctx.db.query<{ id: string }>(
    `SELECT id FROM stripe.event WHERE status = 'pending' AND received_at < now() - interval '5 minutes' ORDER BY received_at LIMIT 10000`,
  );
  // A new job id: the first job may be kept as completed (its effect lost with an unflushed commit).
  for (const { id } of stuck.rows) await applyEventJob.enqueue(ctx, { eventId: id }, { jobId: `${id}-reconcile-${cron.id.replace(/[^A-Za-z0-9_-]/g, '')}` });
  if (!ctx.service(stripeClient).client) return { skipped: `STRIPE_SECRET_KEY is not set; re-enqueued ${stuck.rowCount} pending events` };
  const types = ctx.config.STRIPE_BACKFILL_TYPES.length ? ctx.config.STRIPE_BACKFILL_TYPES.filter((t) => LISTABLE_TYPES.includes(t)) : LISTABLE_TYPES;
  const runId = cron.id.replace(/[^A-Za-z0-9_-]/g, '');
  for (const run of await beginRuns(ctx.db, types, runId)) {
    await backfillJob.enqueue(ctx, run, { jobId: `backfill-${run.type}-${run.runId}` });
  }
};
