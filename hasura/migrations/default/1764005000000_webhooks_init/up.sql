-- webhooks plugin: signed outbound webhooks (event types, endpoints, messages, per-endpoint deliveries and
-- their attempts) and incoming webhook URLs whose posts become rows. Delivery state lives here, not in the
-- queue: the queue only carries "try delivery X now", so a lost job is found again by the dispatcher.
CREATE SCHEMA IF NOT EXISTS webhooks;

CREATE TABLE IF NOT EXISTS webhooks.event_type (
  name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$' AND char_length(name) <= 100),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
  -- JSON Schema of `data`; payloads are checked against it when emitted.
  schema jsonb,
  example jsonb,
  -- Which plugin (or `app`, `map`) registered it.
  source text NOT NULL DEFAULT 'app',
  archived boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhooks.endpoint (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 255),
  url text NOT NULL CHECK (char_length(url) <= 2000),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
  -- null: every event type.
  event_types text[],
  -- null: every message; otherwise messages sharing at least one channel.
  channels text[],
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text,
  disabled_at timestamptz,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Deliveries started per second (null: no limit).
  rate_limit integer CHECK (rate_limit IS NULL OR rate_limit BETWEEN 1 AND 10000),
  -- Seconds between attempts (null: the server's schedule).
  retry_schedule integer[],
  -- Messages with the same ordering key reach this endpoint one after another, in emit order.
  fifo boolean NOT NULL DEFAULT false,
  signature_scheme text NOT NULL DEFAULT 'v1' CHECK (signature_scheme IN ('v1', 'v1a')),
  failing_since timestamptz,
  last_success_at timestamptz,
  rate_window timestamptz,
  rate_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS endpoint_owner_idx ON webhooks.endpoint (owner_id);

-- Secrets are never readable through Hasura: the create and rotate actions hand them out once.
CREATE TABLE IF NOT EXISTS webhooks.endpoint_secret (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  endpoint_id uuid NOT NULL REFERENCES webhooks.endpoint (id) ON DELETE CASCADE,
  scheme text NOT NULL CHECK (scheme IN ('v1', 'v1a')),
  -- v1: the whsec_ secret; v1a: the whsk_ private key.
  secret text NOT NULL,
  public_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set on rotation: the old secret keeps signing (a second signature) until then.
  expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS endpoint_secret_endpoint_idx ON webhooks.endpoint_secret (endpoint_id);

CREATE TABLE IF NOT EXISTS webhooks.message (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Emit order, for FIFO endpoints.
  seq bigserial NOT NULL,
  event_type text NOT NULL,
  payload jsonb NOT NULL,
  -- The exact bytes signed and sent, kept so every retry sends (and signs) the same body.
  body text NOT NULL,
  idempotency_key text UNIQUE CHECK (idempotency_key IS NULL OR char_length(idempotency_key) BETWEEN 1 AND 255),
  channels text[],
  ordering_key text CHECK (ordering_key IS NULL OR char_length(ordering_key) <= 255),
  -- Only for webhooksSendTest: delivered to this endpoint alone.
  test_endpoint_id uuid REFERENCES webhooks.endpoint (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS message_created_idx ON webhooks.message (created_at);

CREATE TABLE IF NOT EXISTS webhooks.delivery (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message_id uuid NOT NULL REFERENCES webhooks.message (id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhooks.endpoint (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'succeeded', 'failed', 'skipped')),
  -- Attempts made in all; `step` indexes the retry schedule and restarts on resend/recover.
  attempts integer NOT NULL DEFAULT 0,
  step integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- While `sending`: a worker that died mid-request is replaced after this.
  lease_until timestamptz,
  last_status_code integer,
  last_error text,
  ordering_key text,
  message_seq bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (message_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS delivery_due_idx ON webhooks.delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS delivery_lease_idx ON webhooks.delivery (lease_until) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS delivery_endpoint_idx ON webhooks.delivery (endpoint_id, status);
CREATE INDEX IF NOT EXISTS delivery_fifo_idx ON webhooks.delivery (endpoint_id, ordering_key, message_seq) WHERE ordering_key IS NOT NULL AND status IN ('pending', 'sending');

CREATE TABLE IF NOT EXISTS webhooks.attempt (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  delivery_id uuid NOT NULL REFERENCES webhooks.delivery (id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhooks.endpoint (id) ON DELETE CASCADE,
  message_id uuid NOT NULL REFERENCES webhooks.message (id) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  response_code integer,
  -- At most WEBHOOKS_RESPONSE_BODY_BYTES of what the receiver answered.
  response_body text,
  duration_ms integer NOT NULL,
  error text,
  -- When the next attempt is due (null: none follows).
  next_retry_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS attempt_delivery_idx ON webhooks.attempt (delivery_id, created_at);
CREATE INDEX IF NOT EXISTS attempt_endpoint_idx ON webhooks.attempt (endpoint_id, created_at DESC);
CREATE INDEX IF NOT EXISTS attempt_created_idx ON webhooks.attempt (created_at);

CREATE TABLE IF NOT EXISTS webhooks.incoming (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 255),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  -- sha256 of the URL's token: a database leak does not hand out working URLs.
  token_hash bytea NOT NULL UNIQUE,
  -- Posts accepted per minute.
  rate_limit integer NOT NULL CHECK (rate_limit BETWEEN 1 AND 100000),
  rate_window timestamptz,
  rate_count integer NOT NULL DEFAULT 0,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS incoming_owner_idx ON webhooks.incoming (owner_id);

CREATE TABLE IF NOT EXISTS webhooks.incoming_message (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  incoming_id uuid NOT NULL REFERENCES webhooks.incoming (id) ON DELETE CASCADE,
  owner_id text NOT NULL,
  payload jsonb NOT NULL,
  content_type text,
  user_agent text,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS incoming_message_incoming_idx ON webhooks.incoming_message (incoming_id, received_at);
