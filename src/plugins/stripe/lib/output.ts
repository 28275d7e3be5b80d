import type { StripeObject } from './objects.js';

const idOf = (v: unknown): string => (typeof v === 'string' ? v : String((v as { id?: unknown })?.id ?? ''));

export function subscriptionOutput(s: StripeObject) {
  return {
    id: s.id,
    status: String(s.status),
    cancelAtPeriodEnd: !!s.cancel_at_period_end,
    priceIds: ((s.items?.data ?? []) as Array<{ price?: { id?: string } }>).map((i) => String(i.price?.id ?? '')),
    customerId: idOf(s.customer),
  };
}
