-- stripe plugin: organisations as owners of Stripe customers, and checkout by insert.

-- The app's organisation memberships as the stripe plugin reads them: who belongs to which organisation and
-- whether their role manages its billing. Empty until STRIPE_ORG_MEMBERS_TABLE is set; the server then
-- replaces this view at boot with one over the configured table and columns (same columns, so Hasura's
-- tracked view and the read permissions that walk it stay valid). Created only when missing: re-running this
-- file must not empty the view a running server has pointed at the app's table.
DO $$
BEGIN
  IF to_regclass('stripe.organization_member') IS NULL THEN
    CREATE VIEW stripe.organization_member AS
    SELECT NULL::text AS organization_id, NULL::text AS user_id, false AS can_manage_billing
     WHERE false;
  END IF;
END
$$;

-- Checkout by insert: a user inserts the prices and redirect URLs, an event trigger creates the Checkout
-- Session (the same checks as stripeCreateCheckoutSession) and writes back its id and URL, or why it failed.
-- The user reads (and subscribes to) their own rows.
CREATE TABLE IF NOT EXISTS stripe.checkout_request (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 255),
  organization_id text CHECK (char_length(organization_id) BETWEEN 1 AND 200),
  -- [{"price": "price_…", "quantity": 1}, …]
  items jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
  mode text NOT NULL CHECK (mode IN ('subscription', 'payment')),
  success_url text NOT NULL CHECK (char_length(success_url) <= 2000),
  cancel_url text NOT NULL CHECK (char_length(cancel_url) <= 2000),
  trial_days integer,
  allow_promotion_codes boolean,
  promotion_code text CHECK (char_length(promotion_code) <= 260),
  automatic_tax boolean,
  tax_id_collection boolean,
  -- pending → created | failed
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'created', 'failed')),
  session_id text,
  url text,
  customer_id text,
  expires_at timestamptz,
  error_code text,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS checkout_request_owner_idx ON stripe.checkout_request (owner_id, created_at);
