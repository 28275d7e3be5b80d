import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { customerFor } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { parseInput, setupIntentInput } from '../../src/plugins/stripe/lib/input.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeSetupIntent } from '../../src/generated/actions.js';

/** What a mobile PaymentSheet needs to save a card for later payments. */
export const stripeCreateSetupIntent: ActionHandler<unknown, StripeSetupIntent, StripeConfig> = async (input, ctx) => {
  const v = parseInput(setupIntentInput, input);
  const client = requireClient(ctx.service(stripeClient));
  const customer = await customerFor(
    { db: ctx.db, client, orgs: ctx.service(stripeOrganizations) },
    ctx.session,
    { customerId: v.customerId, organizationId: v.organizationId, create: true, access: 'billing' },
  );
  try {
    const intent = await client.setupIntents.create({ customer, usage: 'off_session', automatic_payment_methods: { enabled: true } });
    // Ephemeral keys are minted for the API version the mobile SDK speaks; the server's version is the safe default.
    const key = await client.ephemeralKeys.create({ customer }, { apiVersion: client.getApiField('version') as string });
    if (!intent.client_secret || !key.secret) throw stripeError('stripe/upstream', 'Stripe returned no client secret');
    return { id: intent.id, clientSecret: intent.client_secret, ephemeralKey: key.secret, customerId: customer, publishableKey: ctx.config.STRIPE_PUBLISHABLE_KEY ?? null };
  } catch (e) {
    throw upstreamError(e);
  }
};
