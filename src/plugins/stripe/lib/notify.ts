/**
 * Dunning through the optional notifications plugin: a failed payment, a subscription gone past due and a
 * trial about to end reach the customer's app user (an organisation's billing managers) in categories this plugin creates at start. Reached only
 * through the notifications plugin's sending service (`notificationsSender`).
 */
import { defineService, type Queryable } from '../../../core/plugin.js';
import { notificationsSender, type NotificationCategory, type NotificationsSender } from '../../notifications/index.js';
import type { StripeConfig } from '../config.js';

export const DUNNING_CATEGORIES = {
  'invoice.payment_failed': 'stripe.payment_failed',
  'subscription.past_due': 'stripe.past_due',
  'trial.will_end': 'stripe.trial_ending',
} as const;

const DEFINITIONS: NotificationCategory[] = [
  { key: DUNNING_CATEGORIES['invoice.payment_failed'], description: 'A payment for your subscription failed', defaultChannels: ['in_app', 'push', 'email'], critical: true },
  { key: DUNNING_CATEGORIES['subscription.past_due'], description: 'Your subscription is past due', defaultChannels: ['in_app', 'push', 'email'], critical: true },
  { key: DUNNING_CATEGORIES['trial.will_end'], description: 'Your trial ends soon', defaultChannels: ['in_app', 'email'] },
];

export interface BillingEventRow {
  id: string;
  type: string;
  owner_type: string | null;
  owner_id: string | null;
  data: { hostedInvoiceUrl?: string | null; amountDue?: number | null; currency?: string | null; trialEnd?: number | null };
}

function message(e: BillingEventRow): { title: string; body: string } | null {
  const amount = e.data.amountDue != null && e.data.currency ? ` of ${(e.data.amountDue / 100).toFixed(2)} ${e.data.currency.toUpperCase()}` : '';
  switch (e.type) {
    case 'invoice.payment_failed':
      return { title: 'Payment failed', body: `We could not collect your payment${amount}. Please update your payment method.` };
    case 'subscription.past_due':
      return { title: 'Subscription past due', body: 'Your subscription is past due. Update your payment method to keep it.' };
    case 'trial.will_end':
      return { title: 'Your trial ends soon', body: e.data.trialEnd ? `Your trial ends on ${new Date(e.data.trialEnd * 1000).toISOString().slice(0, 10)}.` : 'Your trial ends soon.' };
    default:
      return null;
  }
}

export interface Dunning {
  notify(e: BillingEventRow): Promise<'sent' | string>;
}

/**
 * Who hears about a customer's billing trouble: its user, or the members of its organisation whose role
 * manages billing (read when the event is handled, so a member who left hears nothing).
 */
async function recipients(db: Queryable, e: BillingEventRow): Promise<string[]> {
  if (!e.owner_id) return [];
  if (e.owner_type === 'user') return [e.owner_id];
  if (e.owner_type !== 'organization') return [];
  const r = await db.query<{ user_id: string }>(
    `SELECT DISTINCT user_id FROM stripe.organization_member WHERE organization_id = $1 AND can_manage_billing ORDER BY user_id LIMIT 1000`,
    [e.owner_id],
  );
  return r.rows.map((m) => m.user_id);
}

function dunningFor(sender: NotificationsSender, db: Queryable): Dunning {
  return {
    async notify(e) {
      const category = DUNNING_CATEGORIES[e.type as keyof typeof DUNNING_CATEGORIES];
      const text = message(e);
      if (!category || !text) return `no notification for ${e.type}`;
      if (!e.owner_id || (e.owner_type !== 'user' && e.owner_type !== 'organization')) return 'the customer is not linked to an app user';
      const userIds = await recipients(db, e);
      if (!userIds.length) return 'the organisation has no member who manages billing';
      await sender.send(
        {
          userIds,
          category,
          ...text,
          data: { billingEventId: e.id, type: e.type },
          ...(e.data.hostedInvoiceUrl ? { actionUrl: e.data.hostedInvoiceUrl } : {}),
          priority: 'high',
          // One notification per billing event, however often Hasura delivers it.
          idempotencyKey: `stripe.billing.${e.id}`,
        },
        'stripe',
      );
      return 'sent';
    },
  };
}

/** `{ dunning }` is null when the notifications plugin is off or dunning is switched off. */
export const stripeDunning = defineService<{ dunning: Dunning | null }, StripeConfig>({
  name: 'dunning',
  async create(runtime) {
    const sender = runtime.optionalService(notificationsSender);
    if (!sender || !runtime.config.STRIPE_DUNNING_NOTIFICATIONS) return { dunning: null };
    await sender.ensureCategories(DEFINITIONS);
    return { dunning: dunningFor(sender, runtime.db) };
  },
});
