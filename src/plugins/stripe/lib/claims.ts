/**
 * Plan claims in the oauth plugin's access tokens: when that plugin is enabled, its claims hook gets the
 * signing-in user's `x-hasura-plan` and `x-hasura-features` from `stripe.session_claims`, so permissions can
 * read the plan from the session. The hook runs at every sign-in and refresh, so a plan change reaches the
 * next access token (live decisions read `stripe.owner_plan` instead; see the README).
 */
import { defineService, type Queryable } from '../../../core/plugin.js';
import { prepared } from '../../../core/prepared.js';
// The claims registry alone: importing the oauth plugin's index would load its OpenID client too.
import { oauthClaims, type ClaimsUser } from '../../oauth/lib/claims.js';
import type { StripeConfig } from '../config.js';

export const STRIPE_CLAIMS_HOOK = 'stripe';

/** The session variables of a user's plan: `x-hasura-plan` and `x-hasura-features` (a Postgres array literal). */
export async function planClaims(db: Queryable, user: Pick<ClaimsUser, 'id'>): Promise<Record<string, string>> {
  const r = await prepared<{ claims: Record<string, string> }>(db, 'stripe_session_claims', "SELECT stripe.session_claims($1, 'user') AS claims", [user.id]);
  return r.rows[0]!.claims;
}

export const stripeSessionClaims = defineService<{ registered: boolean }, StripeConfig>({
  name: 'session-claims',
  create(runtime) {
    const registry = runtime.optionalService(oauthClaims);
    if (!registry || !runtime.config.STRIPE_SESSION_CLAIMS) return { registered: false };
    registry.register(STRIPE_CLAIMS_HOOK, (user, db) => planClaims(db, user));
    return { registered: true };
  },
});
