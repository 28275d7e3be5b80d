import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { ownSubscription, usablePrices } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { parseInput, previewInput } from '../../src/plugins/stripe/lib/input.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeProrationPreview } from '../../src/generated/actions.js';

/** Stripe's preview of the next invoice if the subscription moved to `price` now (nothing changes). */
export const stripePreviewProration: ActionHandler<unknown, StripeProrationPreview, StripeConfig> = async (input, ctx) => {
  const v = parseInput(previewInput, input);
  const sub = await ownSubscription(ctx.db, ctx.session, v.subscriptionId, { orgs: ctx.service(stripeOrganizations), organizationId: v.organizationId });
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') throw stripeError('stripe/subscription-ended');
  const [price] = await usablePrices(ctx.db, [v.price]);
  if (price!.type !== 'recurring') throw stripeError('stripe/mode-mismatch', 'a subscription can only move to a recurring price');
  const item = sub.items?.data?.[0];
  if (!item) throw stripeError('stripe/unknown-subscription', 'the subscription has no item to change');
  const client = requireClient(ctx.service(stripeClient));
  // One proration date for the preview and (if the client passes it on) the change, so both compute the same amounts.
  const prorationDate = Math.floor(Date.now() / 1000);
  try {
    const invoice = await client.invoices.createPreview({
      customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
      subscription: v.subscriptionId,
      subscription_details: {
        items: [{ id: item.id, price: v.price, quantity: v.quantity ?? item.quantity ?? 1 }],
        proration_behavior: 'create_prorations',
        proration_date: prorationDate,
      },
    });
    return {
      amountDue: invoice.amount_due,
      total: invoice.total,
      currency: invoice.currency,
      prorationDate,
      lines: invoice.lines.data.map((l) => ({
        description: l.description ?? null,
        amount: l.amount,
        proration: !!l.parent?.subscription_item_details?.proration,
      })),
    };
  } catch (e) {
    throw upstreamError(e);
  }
};
