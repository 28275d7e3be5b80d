import type { EventHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { processCheckoutRequest, type CheckoutRequestRow } from '../../src/plugins/stripe/lib/checkout-request.js';
import { stripeClient } from '../../src/plugins/stripe/lib/client.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';

/**
 * Checkout by insert: creates the Checkout Session a user asked for by inserting into `stripe.checkout_request`
 * and writes back its id and URL (`created`) or the refusal (`failed`, with the action's error code). A
 * redelivered event finds the row settled and does nothing; Stripe's idempotency key (the request id) covers
 * two deliveries racing each other.
 */
export const stripeCheckoutRequestCreate: EventHandler<CheckoutRequestRow, StripeConfig> = async (event, ctx) => {
  const row = event.event.data.new;
  if (!row) return { skipped: 'no row' };
  const outcome = await processCheckoutRequest(
    { db: ctx.db, client: ctx.service(stripeClient).client, orgs: ctx.service(stripeOrganizations), config: ctx.config, publicUrl: ctx.core.PUBLIC_URL },
    row.id,
  );
  return outcome === 'created' ? undefined : { skipped: outcome };
};

