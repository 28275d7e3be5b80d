-- stripe plugin: a mirror of the Stripe objects a SaaS bills with, the ledger of webhook events, the link from
-- app users to Stripe customers, entitlements derived from the newest subscription state, and backfill
-- checkpoints. Every mirrored row keeps Stripe's object as `data` (jsonb) and the time of the state it holds
-- (`last_event_at`): an upsert only lands when it is not older, so webhooks delivered out of order never
-- bring back an older state. Frequently read fields are generated columns of `data`.
CREATE SCHEMA IF NOT EXISTS stripe;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'customer', 'product', 'price', 'subscription', 'subscription_item', 'invoice', 'invoice_line_item',
    'payment_intent', 'charge', 'refund', 'dispute', 'payment_method', 'checkout_session', 'coupon',
    'promotion_code', 'tax_id', 'setup_intent', 'meter', 'active_entitlement_summary'
  ] LOOP
    EXECUTE format($f$
      CREATE TABLE IF NOT EXISTS stripe.%I (
        id text PRIMARY KEY,
        -- The Stripe customer the object belongs to (users read their own customers' rows).
        customer_id text,
        -- For line items and subscription items: the invoice or subscription they came with.
        parent_id text,
        data jsonb NOT NULL,
        -- Deleted in Stripe (or, for subscriptions, ended): kept, and never overwritten by an equally old state.
        deleted boolean NOT NULL DEFAULT false,
        terminal boolean NOT NULL DEFAULT false,
        -- Time of the Stripe event (or API read) whose state the row holds.
        last_event_at timestamptz NOT NULL,
        synced_at timestamptz NOT NULL DEFAULT now(),
        created timestamptz GENERATED ALWAYS AS (to_timestamp((data ->> 'created')::double precision)) STORED,
        livemode boolean GENERATED ALWAYS AS ((data ->> 'livemode')::boolean) STORED
      )$f$, t);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON stripe.%I (customer_id) WHERE customer_id IS NOT NULL', t || '_customer_idx', t);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON stripe.%I (parent_id) WHERE parent_id IS NOT NULL', t || '_parent_idx', t);
  END LOOP;
END
$$;

ALTER TABLE stripe.customer ADD COLUMN IF NOT EXISTS email text GENERATED ALWAYS AS (data ->> 'email') STORED;
ALTER TABLE stripe.customer ADD COLUMN IF NOT EXISTS name text GENERATED ALWAYS AS (data ->> 'name') STORED;

ALTER TABLE stripe.product ADD COLUMN IF NOT EXISTS name text GENERATED ALWAYS AS (data ->> 'name') STORED;
ALTER TABLE stripe.product ADD COLUMN IF NOT EXISTS active boolean GENERATED ALWAYS AS ((data ->> 'active')::boolean) STORED;
ALTER TABLE stripe.product ADD COLUMN IF NOT EXISTS description text GENERATED ALWAYS AS (data ->> 'description') STORED;
ALTER TABLE stripe.product ADD COLUMN IF NOT EXISTS metadata jsonb GENERATED ALWAYS AS (data -> 'metadata') STORED;

ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS product_id text GENERATED ALWAYS AS (data ->> 'product') STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS active boolean GENERATED ALWAYS AS ((data ->> 'active')::boolean) STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS type text GENERATED ALWAYS AS (data ->> 'type') STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS currency text GENERATED ALWAYS AS (data ->> 'currency') STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS unit_amount bigint GENERATED ALWAYS AS ((data ->> 'unit_amount')::bigint) STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS lookup_key text GENERATED ALWAYS AS (data ->> 'lookup_key') STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS recurring_interval text GENERATED ALWAYS AS (data -> 'recurring' ->> 'interval') STORED;
ALTER TABLE stripe.price ADD COLUMN IF NOT EXISTS recurring_usage_type text GENERATED ALWAYS AS (data -> 'recurring' ->> 'usage_type') STORED;
CREATE INDEX IF NOT EXISTS price_product_idx ON stripe.price (product_id);

ALTER TABLE stripe.subscription ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.subscription ADD COLUMN IF NOT EXISTS cancel_at_period_end boolean GENERATED ALWAYS AS ((data ->> 'cancel_at_period_end')::boolean) STORED;
ALTER TABLE stripe.subscription ADD COLUMN IF NOT EXISTS cancel_at timestamptz GENERATED ALWAYS AS (to_timestamp((data ->> 'cancel_at')::double precision)) STORED;
ALTER TABLE stripe.subscription ADD COLUMN IF NOT EXISTS trial_end timestamptz GENERATED ALWAYS AS (to_timestamp((data ->> 'trial_end')::double precision)) STORED;
ALTER TABLE stripe.subscription ADD COLUMN IF NOT EXISTS ended_at timestamptz GENERATED ALWAYS AS (to_timestamp((data ->> 'ended_at')::double precision)) STORED;

ALTER TABLE stripe.subscription_item ADD COLUMN IF NOT EXISTS price_id text GENERATED ALWAYS AS (data -> 'price' ->> 'id') STORED;
ALTER TABLE stripe.subscription_item ADD COLUMN IF NOT EXISTS quantity bigint GENERATED ALWAYS AS ((data ->> 'quantity')::bigint) STORED;
ALTER TABLE stripe.subscription_item ADD COLUMN IF NOT EXISTS current_period_end timestamptz GENERATED ALWAYS AS (to_timestamp((data ->> 'current_period_end')::double precision)) STORED;

ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS number text GENERATED ALWAYS AS (data ->> 'number') STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS currency text GENERATED ALWAYS AS (data ->> 'currency') STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS total bigint GENERATED ALWAYS AS ((data ->> 'total')::bigint) STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS amount_due bigint GENERATED ALWAYS AS ((data ->> 'amount_due')::bigint) STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS amount_paid bigint GENERATED ALWAYS AS ((data ->> 'amount_paid')::bigint) STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS hosted_invoice_url text GENERATED ALWAYS AS (data ->> 'hosted_invoice_url') STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS invoice_pdf text GENERATED ALWAYS AS (data ->> 'invoice_pdf') STORED;
ALTER TABLE stripe.invoice ADD COLUMN IF NOT EXISTS subscription_id text GENERATED ALWAYS AS (data -> 'parent' -> 'subscription_details' ->> 'subscription') STORED;

ALTER TABLE stripe.payment_intent ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.payment_intent ADD COLUMN IF NOT EXISTS amount bigint GENERATED ALWAYS AS ((data ->> 'amount')::bigint) STORED;
ALTER TABLE stripe.payment_intent ADD COLUMN IF NOT EXISTS currency text GENERATED ALWAYS AS (data ->> 'currency') STORED;
ALTER TABLE stripe.charge ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.charge ADD COLUMN IF NOT EXISTS amount bigint GENERATED ALWAYS AS ((data ->> 'amount')::bigint) STORED;
ALTER TABLE stripe.refund ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.dispute ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.payment_method ADD COLUMN IF NOT EXISTS type text GENERATED ALWAYS AS (data ->> 'type') STORED;
ALTER TABLE stripe.checkout_session ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;
ALTER TABLE stripe.checkout_session ADD COLUMN IF NOT EXISTS mode text GENERATED ALWAYS AS (data ->> 'mode') STORED;
ALTER TABLE stripe.meter ADD COLUMN IF NOT EXISTS event_name text GENERATED ALWAYS AS (data ->> 'event_name') STORED;
ALTER TABLE stripe.meter ADD COLUMN IF NOT EXISTS status text GENERATED ALWAYS AS (data ->> 'status') STORED;

-- Every webhook event, once (Stripe delivers at least once): the job that applies it records the outcome.
CREATE TABLE IF NOT EXISTS stripe.event (
  id text PRIMARY KEY,
  type text NOT NULL,
  object_id text,
  api_version text,
  livemode boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL,
  data jsonb NOT NULL,
  -- pending → applied | stale (an equal or newer state was already mirrored) | ignored (a type not mirrored) | failed
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'stale', 'ignored', 'failed')),
  reason text,
  received_at timestamptz NOT NULL DEFAULT now(),
  applied_at timestamptz
);
CREATE INDEX IF NOT EXISTS event_pending_idx ON stripe.event (received_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS event_object_idx ON stripe.event (object_id, created);

-- One Stripe customer per app user (or organisation).
CREATE TABLE IF NOT EXISTS stripe.customer_link (
  owner_type text NOT NULL DEFAULT 'user' CHECK (owner_type IN ('user', 'organization')),
  owner_id text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 255),
  customer_id text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_type, owner_id)
);

-- Features a customer is entitled to now: from the metadata `features` (comma-separated) of the products of
-- its active or trialing subscriptions, and from Stripe Entitlements' active entitlement summary.
CREATE TABLE IF NOT EXISTS stripe.entitlement (
  customer_id text NOT NULL,
  feature text NOT NULL,
  source text NOT NULL CHECK (source IN ('product', 'stripe')),
  product_id text,
  subscription_id text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, feature, source)
);

-- Usage reported through stripeRecordUsage, keyed by the caller's identifier (Stripe dedupes meter events on it too).
CREATE TABLE IF NOT EXISTS stripe.usage_record (
  identifier text PRIMARY KEY,
  customer_id text NOT NULL,
  event_name text NOT NULL,
  value bigint NOT NULL CHECK (value > 0),
  recorded_by text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS usage_record_customer_idx ON stripe.usage_record (customer_id, event_name, created_at);

-- Typed billing events other plugins subscribe to with their own event triggers (subscription.activated, …).
CREATE TABLE IF NOT EXISTS stripe.billing_event (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type text NOT NULL,
  stripe_event_id text NOT NULL,
  customer_id text,
  owner_type text,
  owner_id text,
  object_id text,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stripe_event_id, type)
);
CREATE INDEX IF NOT EXISTS billing_event_customer_idx ON stripe.billing_event (customer_id, created_at);

-- Backfill progress per object type: the cursor is committed with each page, so a run resumes where it stopped.
CREATE TABLE IF NOT EXISTS stripe.sync_checkpoint (
  object_type text PRIMARY KEY,
  run_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'retrying', 'done', 'failed')),
  cursor text,
  synced bigint NOT NULL DEFAULT 0,
  pages bigint NOT NULL DEFAULT 0,
  last_error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

-- Recomputes one customer's entitlements from the mirrored state (never from an event's payload).
CREATE OR REPLACE FUNCTION stripe.refresh_entitlements(p_customer text) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM stripe.entitlement WHERE customer_id = p_customer;
  INSERT INTO stripe.entitlement (customer_id, feature, source, product_id, subscription_id)
  SELECT DISTINCT ON (feature) s.customer_id, btrim(f.feature), 'product', p.id, s.id
    FROM stripe.subscription s
    JOIN stripe.subscription_item i ON i.parent_id = s.id AND NOT i.deleted
    JOIN stripe.product p ON p.id = coalesce(i.data -> 'price' ->> 'product', i.data -> 'price' -> 'product' ->> 'id')
    CROSS JOIN LATERAL unnest(string_to_array(p.data -> 'metadata' ->> 'features', ',')) AS f(feature)
   WHERE s.customer_id = p_customer AND NOT s.deleted AND s.status IN ('active', 'trialing') AND btrim(f.feature) <> ''
   ORDER BY feature, s.id
  ON CONFLICT DO NOTHING;
  INSERT INTO stripe.entitlement (customer_id, feature, source)
  SELECT DISTINCT a.customer_id, e ->> 'lookup_key', 'stripe'
    FROM stripe.active_entitlement_summary a
    CROSS JOIN LATERAL jsonb_array_elements(coalesce(a.data -> 'entitlements' -> 'data', '[]'::jsonb)) e
   WHERE a.customer_id = p_customer AND e ->> 'lookup_key' IS NOT NULL
  ON CONFLICT DO NOTHING;
$$;

-- The plan of every linked owner: the product of its newest active or trialing subscription
-- (product metadata `plan`, else the product's name); 'free' without one.
CREATE OR REPLACE VIEW stripe.owner_plan AS
SELECT l.owner_type, l.owner_id, l.customer_id,
       coalesce(cur.plan, 'free') AS plan,
       cur.subscription_id, cur.status, cur.product_id,
       coalesce((SELECT array_agg(DISTINCT e.feature ORDER BY e.feature) FROM stripe.entitlement e WHERE e.customer_id = l.customer_id), '{}') AS features
  FROM stripe.customer_link l
  LEFT JOIN LATERAL (
    SELECT s.id AS subscription_id, s.status, p.id AS product_id, coalesce(p.data -> 'metadata' ->> 'plan', p.name) AS plan
      FROM stripe.subscription s
      JOIN stripe.subscription_item i ON i.parent_id = s.id AND NOT i.deleted
      LEFT JOIN stripe.product p ON p.id = i.data -> 'price' ->> 'product'
     WHERE s.customer_id = l.customer_id AND NOT s.deleted AND s.status IN ('active', 'trialing')
     ORDER BY s.created DESC, s.id
     LIMIT 1
  ) cur ON true;

-- Hasura session claims for an app user (an auth server's claims hook, a JWT builder, or a webhook auth mode
-- calls it): x-hasura-plan and x-hasura-features (a Postgres array literal, as Hasura reads array claims).
CREATE OR REPLACE FUNCTION stripe.session_claims(p_owner_id text, p_owner_type text DEFAULT 'user') RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'x-hasura-plan', coalesce((SELECT plan FROM stripe.owner_plan WHERE owner_type = p_owner_type AND owner_id = p_owner_id), 'free'),
    'x-hasura-features', '{' || coalesce((
      SELECT string_agg('"' || replace(replace(f, '\', '\\'), '"', '\"') || '"', ',' ORDER BY f)
        FROM stripe.owner_plan, unnest(features) f WHERE owner_type = p_owner_type AND owner_id = p_owner_id), '') || '}'
  );
$$;
