import { z } from 'zod';
import { secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

const list = (description: string) =>
  z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .describe(description);

/** Settings of the stripe plugin (apart from the manifest so handlers and lib name the type without a cycle). */
export const stripeConfig = z.object({
  STRIPE_SECRET_KEY: secret(z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, 'must be a secret (sk_…) or restricted (rk_…) key'))
    .optional()
    .describe('Stripe secret or restricted key. Without it the mirror still takes webhooks, but write actions and backfill answer "not configured".'),
  STRIPE_WEBHOOK_SECRET: secret(z.string().regex(/^whsec_[A-Za-z0-9]+$/, 'must be a webhook signing secret (whsec_…)'))
    .optional()
    .describe('Signing secret of the webhook endpoint (whsec_…). Without it /hooks/stripe/webhook refuses every call.'),
  STRIPE_PUBLISHABLE_KEY: z.string().regex(/^pk_(test|live)_[A-Za-z0-9]+$/).optional().describe('Publishable key returned with setup intents (mobile PaymentSheet).'),
  STRIPE_API_HOST: z.string().min(1).optional().describe('API host (default api.stripe.com); for stripe-mock or a proxy.'),
  STRIPE_API_PORT: z.coerce.number().int().min(1).max(65535).optional().describe('API port (default 443).'),
  STRIPE_API_PROTOCOL: z.enum(['http', 'https']).optional().describe('API protocol (default https).'),
  STRIPE_MAX_NETWORK_RETRIES: int(0, 10, 2, 'Retries of a failed or rate-limited API request (with the library\'s backoff) before the job backs off itself.'),
  STRIPE_API_TIMEOUT_MS: int(1000, 120_000, 30_000, 'Longest one API request may take.'),
  STRIPE_WEBHOOK_TOLERANCE_SECONDS: int(10, 3600, 300, 'Oldest signature timestamp accepted (replayed deliveries older than this are refused).'),
  STRIPE_REDIRECT_ORIGINS: list('Comma-separated origins (https://app.example.com) that success, cancel and return URLs may point to. Default: PUBLIC_URL\'s origin only.'),
  STRIPE_REFETCH_TYPES: list('Object types (customer, subscription, invoice, …) refetched from the API when their event is applied, instead of trusting the payload.'),
  STRIPE_USAGE_MAX_VALUE: int(1, 2_000_000_000, 1_000_000, 'Largest quantity one stripeRecordUsage call may report.'),
  STRIPE_BACKFILL_PAGE_SIZE: int(1, 100, 100, 'Objects per list request during backfill (Stripe allows 100).'),
  STRIPE_BACKFILL_TYPES: list('Object types the nightly reconcile backfills. Default: every mirrored type.'),
  STRIPE_WEBHOOK_URL: z.string().url().optional().describe('Public URL Stripe posts to, for `nself-plugins stripe webhooks ensure`. Default: PUBLIC_URL + /hooks/stripe/webhook.'),
  STRIPE_DUNNING_NOTIFICATIONS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true')
    .describe('With the notifications plugin enabled: notify the customer\'s user of failed payments, past-due subscriptions and ending trials.'),
  STRIPE_ORG_MEMBERS_TABLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/, 'must be schema.table (lower-case SQL names)')
    .optional()
    .describe('The app\'s organisation membership table (schema.table). When set, organisations own Stripe customers too: the write actions take an organizationId and members read their organisation\'s billing rows. Checked at boot.'),
  STRIPE_ORG_MEMBERS_ORG_COLUMN: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional().describe('Column of STRIPE_ORG_MEMBERS_TABLE holding the organisation id (needed with the table).'),
  STRIPE_ORG_MEMBERS_USER_COLUMN: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional().describe('Column of STRIPE_ORG_MEMBERS_TABLE holding the member\'s user id, as in x-hasura-user-id (needed with the table).'),
  STRIPE_ORG_MEMBERS_ROLE_COLUMN: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional().describe('Column of STRIPE_ORG_MEMBERS_TABLE holding the member\'s role. Without it every member may manage the organisation\'s billing.'),
  STRIPE_ORG_BILLING_ROLES: z
    .string()
    .default('owner,admin')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .describe('Comma-separated roles (values of STRIPE_ORG_MEMBERS_ROLE_COLUMN) that may manage an organisation\'s billing: checkout, portal, plan changes, cancellation. Every member reads the billing rows.'),
  STRIPE_SESSION_CLAIMS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true')
    .describe('With the oauth plugin enabled: put the user\'s plan (x-hasura-plan) and features (x-hasura-features) into the access tokens it issues.'),
});

export type StripeConfig = z.infer<typeof stripeConfig>;
