import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { customerFor, usablePrices } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { checkoutInput, checkRedirect, parseInput } from '../../src/plugins/stripe/lib/input.js';
import type { StripeCheckoutSession } from '../../src/generated/actions.js';

/** A Checkout Session for the caller's customer; every price is checked against the mirror first. */
export const stripeCreateCheckoutSession: ActionHandler<unknown, StripeCheckoutSession, StripeConfig> = async (input, ctx) => {
  const v = parseInput(checkoutInput, input);
  const allowed = ctx.config.STRIPE_REDIRECT_ORIGINS;
  const successUrl = checkRedirect(v.successUrl, 'successUrl', allowed, ctx.core.PUBLIC_URL);
  const cancelUrl = checkRedirect(v.cancelUrl, 'cancelUrl', allowed, ctx.core.PUBLIC_URL);
  const client = requireClient(ctx.service(stripeClient));
  const prices = await usablePrices(ctx.db, v.items.map((i) => i.price));
  // Subscriptions need at least one recurring price (one-time prices ride along as setup fees); payments none.
  const recurring = prices.filter((p) => p.type === 'recurring').length;
  if (v.mode === 'subscription' ? recurring === 0 : recurring > 0) {
    throw stripeError('stripe/mode-mismatch', v.mode === 'subscription' ? 'a subscription needs at least one recurring price' : 'a one-time payment cannot include recurring prices');
  }
  const customer = await customerFor({ db: ctx.db, client }, ctx.session, v.customerId, true);
  try {
    const session = await client.checkout.sessions.create({
      mode: v.mode,
      customer,
      line_items: v.items.map((i) => ({ price: i.price, quantity: i.quantity ?? 1 })),
      success_url: successUrl,
      cancel_url: cancelUrl,
      client_reference_id: ctx.session.userId ?? undefined,
      ...(v.trialDays ? { subscription_data: { trial_period_days: v.trialDays } } : {}),
      ...(v.allowPromotionCodes ? { allow_promotion_codes: true } : {}),
      ...(v.promotionCode ? { discounts: [{ promotion_code: v.promotionCode }] } : {}),
      ...(v.automaticTax ? { automatic_tax: { enabled: true }, customer_update: { address: 'auto', name: 'auto' } } : {}),
      ...(v.taxIdCollection ? { tax_id_collection: { enabled: true } } : {}),
    });
    if (!session.url) throw stripeError('stripe/upstream', 'Stripe returned a session without a URL');
    return { id: session.id, url: session.url, customerId: customer, expiresAt: session.expires_at ? new Date(session.expires_at * 1000).toISOString() : null };
  } catch (e) {
    throw upstreamError(e);
  }
};
