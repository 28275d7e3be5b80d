import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { mirrorWrite } from '../../src/plugins/stripe/lib/apply.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { ownSubscription } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { parseInput, resumeInput } from '../../src/plugins/stripe/lib/input.js';
import { subscriptionOutput } from '../../src/plugins/stripe/lib/output.js';
import type { StripeObject } from '../../src/plugins/stripe/lib/objects.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeSubscription } from '../../src/generated/actions.js';

/** Takes back a cancellation at period end; an ended subscription cannot come back (start a new checkout). */
export const stripeResumeSubscription: ActionHandler<unknown, StripeSubscription, StripeConfig> = async (input, ctx) => {
  const v = parseInput(resumeInput, input);
  const sub = await ownSubscription(ctx.db, ctx.session, v.subscriptionId, { orgs: ctx.service(stripeOrganizations), organizationId: v.organizationId });
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') throw stripeError('stripe/subscription-ended');
  const client = requireClient(ctx.service(stripeClient));
  try {
    const updated = await client.subscriptions.update(v.subscriptionId, { cancel_at_period_end: false });
    await mirrorWrite(ctx.db, updated as unknown as StripeObject, `write-${ctx.requestId}`);
    return subscriptionOutput(updated as unknown as StripeObject);
  } catch (e) {
    throw upstreamError(e);
  }
};
