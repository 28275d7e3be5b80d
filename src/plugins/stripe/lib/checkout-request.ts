/**
 * Checkout by insert: a row of `stripe.checkout_request` becomes a Checkout Session through the same code as
 * the `stripeCreateCheckoutSession` action, acting as the user who inserted it (Hasura's insert preset puts
 * the session's user id into `owner_id`).
 */
import type Stripe from 'stripe';
import { ActionError, RetryableError } from '../../../core/errors.js';
import type { Queryable } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { createCheckout } from './checkout.js';
import { stripeError } from './errors.js';
import type { Organizations } from './organizations.js';

export interface CheckoutRequestRow {
  id: string;
  owner_id: string;
  organization_id: string | null;
  items: unknown;
  mode: string;
  success_url: string;
  cancel_url: string;
  trial_days: number | null;
  allow_promotion_codes: boolean | null;
  promotion_code: string | null;
  automatic_tax: boolean | null;
  tax_id_collection: boolean | null;
  status: 'pending' | 'created' | 'failed';
}

export interface CheckoutRequestDeps {
  db: Queryable;
  client: Stripe | undefined;
  orgs: Organizations;
  config: Readonly<StripeConfig>;
  publicUrl: string;
}

/** The Stripe idempotency key of a request: every delivery of its event asks Stripe for the same session. */
export const checkoutRequestKey = (id: string) => `nself-checkout-request-${id}`;

/**
 * Settles one pending request: `created` (session id, URL, customer written back) or a refusal recorded on the
 * row as `failed` with the error's code and message. A settled or missing row is left alone. Rate limits and
 * errors that are not a refusal (network, Stripe's 5xx) are thrown, so the event is retried.
 */
export async function processCheckoutRequest(deps: CheckoutRequestDeps, id: string): Promise<'created' | string> {
  const r = await deps.db.query<CheckoutRequestRow>(`SELECT * FROM stripe.checkout_request WHERE id = $1`, [id]);
  const row = r.rows[0];
  if (!row) return 'the request no longer exists';
  if (row.status !== 'pending') return `the request is already ${row.status}`;
  const input = {
    items: row.items,
    mode: row.mode,
    successUrl: row.success_url,
    cancelUrl: row.cancel_url,
    organizationId: row.organization_id,
    trialDays: row.trial_days,
    allowPromotionCodes: row.allow_promotion_codes,
    promotionCode: row.promotion_code,
    automaticTax: row.automatic_tax,
    taxIdCollection: row.tax_id_collection,
  };
  try {
    if (!deps.client) throw stripeError('stripe/not-configured');
    const session = await createCheckout({ ...deps, client: deps.client }, { role: 'user', userId: row.owner_id }, input, checkoutRequestKey(row.id));
    await deps.db.query(
      `UPDATE stripe.checkout_request
          SET status = 'created', session_id = $2, url = $3, customer_id = $4, expires_at = $5, error_code = NULL, error_message = NULL, updated_at = now()
        WHERE id = $1 AND status = 'pending'`,
      [row.id, session.id, session.url, session.customerId, session.expiresAt],
    );
    return 'created';
  } catch (e) {
    if (!(e instanceof ActionError) || e.code === 'stripe/rate-limited') {
      throw e instanceof ActionError ? new RetryableError(e.message, { cause: e }) : e;
    }
    await deps.db.query(
      `UPDATE stripe.checkout_request SET status = 'failed', error_code = $2, error_message = $3, updated_at = now() WHERE id = $1 AND status = 'pending'`,
      [row.id, e.code, e.message.slice(0, 2000)],
    );
    return `failed: ${e.code}`;
  }
}
