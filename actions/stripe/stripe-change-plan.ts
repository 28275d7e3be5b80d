import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { mirrorWrite } from '../../src/plugins/stripe/lib/apply.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { ownSubscription, usablePrices } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { changePlanInput, parseInput } from '../../src/plugins/stripe/lib/input.js';
import { subscriptionOutput } from '../../src/plugins/stripe/lib/output.js';
import type { StripeObject } from '../../src/plugins/stripe/lib/objects.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeSubscription } from '../../src/generated/actions.js';

/** Moves a single-item subscription to another recurring price. */
export const stripeChangePlan: ActionHandler<unknown, StripeSubscription, StripeConfig> = async (input, ctx) => {
  const v = parseInput(changePlanInput, input);
  const sub = await ownSubscription(ctx.db, ctx.session, v.subscriptionId, { orgs: ctx.service(stripeOrganizations), organizationId: v.organizationId });
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') throw stripeError('stripe/subscription-ended');
  const [price] = await usablePrices(ctx.db, [v.price]);
  if (price!.type !== 'recurring') throw stripeError('stripe/mode-mismatch', 'a subscription can only move to a recurring price');
  const item = sub.items?.data?.[0];
  if (!item) throw stripeError('stripe/unknown-subscription', 'the subscription has no item to change');
  const client = requireClient(ctx.service(stripeClient));
  try {
    const updated = await client.subscriptions.update(v.subscriptionId, {
      items: [{ id: item.id, price: v.price, quantity: v.quantity ?? item.quantity ?? 1 }],
      proration_behavior: v.prorationBehavior ?? 'create_prorations',
    });
    await mirrorWrite(ctx.db, updated as unknown as StripeObject, `write-${ctx.requestId}`);
    return subscriptionOutput(updated as unknown as StripeObject);
  } catch (e) {
    throw upstreamError(e);
  }
};
