import { ActionError, defineErrors } from '../../../core/errors.js';

export const STRIPE_ERRORS = {
  'stripe/invalid-input': { status: 400, message: 'invalid input' },
  'stripe/no-user': { status: 401, message: 'this action needs a user session (x-hasura-user-id)' },
  'stripe/not-configured': { status: 409, message: 'Stripe is not configured (STRIPE_SECRET_KEY)' },
  'stripe/not-your-customer': { status: 403, message: 'this customer does not belong to you' },
  'stripe/not-a-member': { status: 403, message: 'you are not a member of this organisation' },
  'stripe/not-billing-manager': { status: 403, message: 'your role in this organisation does not manage billing' },
  'stripe/organizations-off': { status: 409, message: 'organisation billing is not configured (STRIPE_ORG_MEMBERS_TABLE)' },
  'stripe/no-customer': { status: 404, message: 'you have no Stripe customer yet' },
  'stripe/unknown-price': { status: 404, message: 'no such price' },
  'stripe/archived-price': { status: 409, message: 'this price is archived' },
  'stripe/mode-mismatch': { status: 400, message: 'the prices do not fit this checkout mode' },
  'stripe/redirect-not-allowed': { status: 400, message: 'this URL is outside the allowed redirect origins' },
  'stripe/unknown-subscription': { status: 404, message: 'no such subscription' },
  'stripe/subscription-ended': { status: 409, message: 'this subscription has ended' },
  'stripe/unknown-meter': { status: 404, message: 'no active meter with this event name' },
  'stripe/usage-conflict': { status: 409, message: 'this identifier was already used for different usage' },
  'stripe/upstream': { status: 424, message: 'Stripe refused the request' },
  'stripe/rate-limited': { status: 429, message: 'Stripe is rate limiting requests; try again shortly' },
} as const;
defineErrors(STRIPE_ERRORS);

export type StripeErrorCode = keyof typeof STRIPE_ERRORS;

export function stripeError(code: StripeErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(STRIPE_ERRORS, code, detail, extensions);
}
