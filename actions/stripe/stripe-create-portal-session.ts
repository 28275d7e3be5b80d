import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { customerFor } from '../../src/plugins/stripe/lib/customers.js';
import { checkRedirect, parseInput, portalInput } from '../../src/plugins/stripe/lib/input.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripePortalSession } from '../../src/generated/actions.js';

/** A billing portal link for the caller's customer (or its organisation's). */
export const stripeCreatePortalSession: ActionHandler<unknown, StripePortalSession, StripeConfig> = async (input, ctx) => {
  const v = parseInput(portalInput, input);
  const returnUrl = checkRedirect(v.returnUrl, 'returnUrl', ctx.config.STRIPE_REDIRECT_ORIGINS, ctx.core.PUBLIC_URL);
  const client = requireClient(ctx.service(stripeClient));
  const customer = await customerFor(
    { db: ctx.db, client, orgs: ctx.service(stripeOrganizations) },
    ctx.session,
    { customerId: v.customerId, organizationId: v.organizationId, create: true, access: 'billing' },
  );
  try {
    const session = await client.billingPortal.sessions.create({ customer, return_url: returnUrl });
    return { url: session.url, customerId: customer };
  } catch (e) {
    throw upstreamError(e);
  }
};
