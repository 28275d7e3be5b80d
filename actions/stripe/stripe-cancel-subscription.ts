import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { mirrorWrite } from '../../src/plugins/stripe/lib/apply.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { ownSubscription } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { cancelInput, parseInput } from '../../src/plugins/stripe/lib/input.js';
import { subscriptionOutput } from '../../src/plugins/stripe/lib/output.js';
import type { StripeObject } from '../../src/plugins/stripe/lib/objects.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeSubscription } from '../../src/generated/actions.js';

/** Cancels at period end (the customer keeps what they paid for) or, with `atPeriodEnd: false`, at once. */
export const stripeCancelSubscription: ActionHandler<unknown, StripeSubscription, StripeConfig> = async (input, ctx) => {
  const v = parseInput(cancelInput, input);
  const sub = await ownSubscription(ctx.db, ctx.session, v.subscriptionId, { orgs: ctx.service(stripeOrganizations), organizationId: v.organizationId });
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') throw stripeError('stripe/subscription-ended');
  const client = requireClient(ctx.service(stripeClient));
  try {
    const updated =
      v.atPeriodEnd === false
        ? await client.subscriptions.cancel(v.subscriptionId)
        : await client.subscriptions.update(v.subscriptionId, { cancel_at_period_end: true });
    await mirrorWrite(ctx.db, updated as unknown as StripeObject, `write-${ctx.requestId}`);
    return subscriptionOutput(updated as unknown as StripeObject);
  } catch (e) {
    throw upstreamError(e);
  }
};
