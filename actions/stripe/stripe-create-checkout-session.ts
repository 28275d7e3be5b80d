import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { createCheckout } from '../../src/plugins/stripe/lib/checkout.js';
import { requireClient, stripeClient } from '../../src/plugins/stripe/lib/client.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeCheckoutSession } from '../../src/generated/actions.js';

/** A Checkout Session for the caller's customer (or its organisation's); every price is checked against the mirror first. */
export const stripeCreateCheckoutSession: ActionHandler<unknown, StripeCheckoutSession, StripeConfig> = async (input, ctx) => {
  const client = requireClient(ctx.service(stripeClient));
  return createCheckout(
    { db: ctx.db, client, orgs: ctx.service(stripeOrganizations), config: ctx.config, publicUrl: ctx.core.PUBLIC_URL },
    ctx.session,
    input,
  );
};
