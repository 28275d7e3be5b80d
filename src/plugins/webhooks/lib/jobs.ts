/**
 * The plugin's jobs: `webhooks.deliver` (one attempt of one delivery) and `webhooks.dispatch`, a schedule that
 * runs wherever job workers run (the server or `nself-plugins worker`) and re-enqueues deliveries whose job was
 * lost or whose worker died. Retries themselves are delayed `webhooks.deliver` jobs, enqueued when an attempt fails.
 */
import { setMaxListeners } from 'node:events';
import { z } from 'zod';
import type { QueueProvider } from '../../../core/queue-types.js';
import { defineJob, type JobContext } from '../../jobs/index.js';
import { notificationsSender } from '../../notifications/lib/sender.js';
import type { WebhooksConfig } from '../config.js';
import { deliver, deliverMany, dispatchDue, type DeliverDeps, type DeliverOutcome } from './deliver.js';

export const DELIVER_QUEUE = 'webhooks.deliver';
export const DISABLED_CATEGORY = 'webhooks.endpoint.disabled';

/** Most deliveries one job carries: a job's fetch and completion are shared by them all. */
export const DELIVERY_BATCH = 25;

const oneDelivery = z.object({ deliveryId: z.string().uuid(), attempt: z.number().int().min(0) });
/** One attempt of one delivery (a retry, a resend, the dispatcher's pick) or the first attempts of several. */
const deliverData = z.union([oneDelivery.strict(), z.object({ deliveries: z.array(oneDelivery).min(1).max(DELIVERY_BATCH) }).strict()]);

/** Enqueues attempt `attempt` of a delivery; the job id makes a repeated enqueue of the same attempt a no-op. */
export async function scheduleDelivery(ctx: { readonly queue: QueueProvider }, deliveryId: string, attempt: number, delayMs = 0, tag?: string): Promise<void> {
  await deliverJob.enqueue(ctx, { deliveryId, attempt }, { jobId: `${deliveryId}-${attempt}${tag ? `-${tag}` : ''}`, ...(delayMs > 0 ? { delayMs: Math.round(delayMs) } : {}) });
}

/**
 * Enqueues the first attempts of new deliveries, up to DELIVERY_BATCH per job. A job id made of the batch's
 * first delivery makes a repeated enqueue of the same batch a no-op; a delivery in two jobs is claimed once.
 */
export async function scheduleFirstAttempts(ctx: { readonly queue: QueueProvider }, deliveryIds: readonly string[]): Promise<void> {
  if (deliveryIds.length === 1) return scheduleDelivery(ctx, deliveryIds[0]!, 0);
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < deliveryIds.length; i += DELIVERY_BATCH) {
    const ids = deliveryIds.slice(i, i + DELIVERY_BATCH);
    if (ids.length === 1) jobs.push(scheduleDelivery(ctx, ids[0]!, 0));
    else jobs.push(deliverJob.enqueue(ctx, { deliveries: ids.map((deliveryId) => ({ deliveryId, attempt: 0 })) }, { jobId: `b${ids.length}-${ids[0]}-0` }));
  }
  await Promise.all(jobs);
}

function depsOf(ctx: JobContext<WebhooksConfig>): DeliverDeps {
  return {
    db: ctx.db,
    config: ctx.config,
    log: ctx.log,
    signal: ctx.signal,
    schedule: (id, attempt, delayMs, tag) => scheduleDelivery(ctx, id, attempt, delayMs, tag),
    async notifyDisabled(endpoint) {
      const sender = ctx.optionalService(notificationsSender);
      if (!sender) return;
      await sender.ensureCategories([{ key: DISABLED_CATEGORY, description: 'A webhook endpoint of yours was disabled', defaultChannels: ['in_app', 'email'] }]);
      await sender.send({
        userIds: [endpoint.ownerId],
        category: DISABLED_CATEGORY,
        title: 'Webhook endpoint disabled',
        body: `${endpoint.url} was disabled: ${endpoint.reason}. Fix it, re-enable it and recover the failed messages.`,
        data: { endpointId: endpoint.id, url: endpoint.url, reason: endpoint.reason },
        idempotencyKey: `webhooks.disabled.${endpoint.id}.${Math.floor(Date.now() / 60_000)}`,
      }, 'webhooks');
    },
  };
}

export const deliverJob = defineJob({
  name: 'webhooks.deliver',
  queue: DELIVER_QUEUE,
  data: deliverData,
  concurrency: 50,
  // Retries of the HTTP attempt are the plugin's own schedule; these cover a failing database or queue.
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeout: 180_000,
  description: 'Signed POSTs of messages to endpoints (one delivery, or the first attempts of up to 25), each recorded as an attempt',
  async handler(data, ctx: JobContext<WebhooksConfig>) {
    if ('deliveryId' in data) return deliver(depsOf(ctx), data.deliveryId, data.attempt);
    // Every delivery of the batch listens to the job's signal (its wait for a slot, its request).
    setMaxListeners(2 * data.deliveries.length + 10, ctx.signal);
    const settled = await deliverMany(depsOf(ctx), data.deliveries);
    // A delivery whose bookkeeping failed fails the job, so the job is retried: the retry finds nothing to claim
    // for the deliveries that were recorded; one left `sending` is restarted by the dispatcher when its lease lapses.
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return { outcomes: settled.map((s) => (s as PromiseFulfilledResult<DeliverOutcome>).value.result) };
  },
});

export const dispatchJob = defineJob({
  name: 'webhooks.dispatch',
  queue: DELIVER_QUEUE,
  data: z.object({}).strict(),
  attempts: 1,
  timeout: 60_000,
  schedule: { cron: '*/5 * * * * *' },
  description: 'Re-enqueues deliveries that are overdue (their job was lost) or whose worker died mid-attempt',
  async handler(_data, ctx: JobContext<WebhooksConfig>) {
    const enqueued = await dispatchDue(depsOf(ctx), { graceSeconds: ctx.config.WEBHOOKS_DISPATCH_GRACE_SECONDS });
    return { enqueued };
  },
});
