import type { EventHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { stripeDunning, type BillingEventRow } from '../../src/plugins/stripe/lib/notify.js';

/**
 * Dunning notifications for new billing events (failed payments, past-due subscriptions, ending trials),
 * through the notifications plugin when it is enabled. Its idempotency key makes a redelivery a no-op.
 */
export const stripeBillingEventNotify: EventHandler<BillingEventRow, StripeConfig> = async (event, ctx) => {
  const row = event.event.data.new;
  if (!row) return { skipped: 'no row' };
  const { dunning } = ctx.service(stripeDunning);
  if (!dunning) return { skipped: 'dunning notifications are off (notifications plugin not enabled, or STRIPE_DUNNING_NOTIFICATIONS=false)' };
  const outcome = await dunning.notify(row);
  return outcome === 'sent' ? undefined : { skipped: outcome };
};
