/**
 * Checkout Sessions, shared by the `stripeCreateCheckoutSession` action and checkout by insert
 * (`stripe.checkout_request`): the same input checks, price checks, redirect allow-list and customer choice.
 */
import type Stripe from 'stripe';
import type { Queryable } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { upstreamError } from './client.js';
import { customerFor, usablePrices } from './customers.js';
import { stripeError } from './errors.js';
import { checkoutInput, checkRedirect, parseInput } from './input.js';
import type { Organizations } from './organizations.js';

export interface CheckoutResult {
  id: string;
  url: string;
  customerId: string;
  expiresAt: string | null;
}

export interface CheckoutDeps {
  db: Queryable;
  client: Stripe;
  orgs: Organizations;
  config: Readonly<StripeConfig>;
  publicUrl: string;
}

/**
 * Creates a Checkout Session for the caller's customer (or, with organizationId, its organisation's). Every
 * check runs before anything is created. `idempotencyKey` makes a repeated call (a redelivered event) get the
 * same session back from Stripe instead of a second one.
 */
export async function createCheckout(
  deps: CheckoutDeps,
  session: { role: string; userId: string | null },
  input: unknown,
  idempotencyKey?: string,
): Promise<CheckoutResult> {
  const v = parseInput(checkoutInput, input);
  const allowed = deps.config.STRIPE_REDIRECT_ORIGINS;
  const successUrl = checkRedirect(v.successUrl, 'successUrl', allowed, deps.publicUrl);
  const cancelUrl = checkRedirect(v.cancelUrl, 'cancelUrl', allowed, deps.publicUrl);
  const prices = await usablePrices(deps.db, v.items.map((i) => i.price));
  // Subscriptions need at least one recurring price (one-time prices ride along as setup fees); payments none.
  const recurring = prices.filter((p) => p.type === 'recurring').length;
  if (v.mode === 'subscription' ? recurring === 0 : recurring > 0) {
    throw stripeError('stripe/mode-mismatch', v.mode === 'subscription' ? 'a subscription needs at least one recurring price' : 'a one-time payment cannot include recurring prices');
  }
  const customer = await customerFor(deps, session, { customerId: v.customerId, organizationId: v.organizationId, create: true, access: 'billing' });
  try {
    const created = await deps.client.checkout.sessions.create(
      {
        mode: v.mode,
        customer,
        line_items: v.items.map((i) => ({ price: i.price, quantity: i.quantity ?? 1 })),
        success_url: successUrl,
        cancel_url: cancelUrl,
        client_reference_id: session.userId ?? undefined,
        ...(v.organizationId ? { metadata: { nself_organization_id: v.organizationId } } : {}),
        ...(v.trialDays ? { subscription_data: { trial_period_days: v.trialDays } } : {}),
        ...(v.allowPromotionCodes ? { allow_promotion_codes: true } : {}),
        ...(v.promotionCode ? { discounts: [{ promotion_code: v.promotionCode }] } : {}),
        ...(v.automaticTax ? { automatic_tax: { enabled: true }, customer_update: { address: 'auto', name: 'auto' } } : {}),
        ...(v.taxIdCollection ? { tax_id_collection: { enabled: true } } : {}),
      },
      idempotencyKey ? { idempotencyKey } : undefined,
    );
    if (!created.url) throw stripeError('stripe/upstream', 'Stripe returned a session without a URL');
    return { id: created.id, url: created.url, customerId: customer, expiresAt: created.expires_at ? new Date(created.expires_at * 1000).toISOString() : null };
  } catch (e) {
    throw upstreamError(e);
  }
}
