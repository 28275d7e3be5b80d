-- oauth plugin: users (when the app has no users table of its own), provider identities, sign-in flows,
-- one-time codes, rotating refresh tokens and the sign-in audit log.
CREATE SCHEMA IF NOT EXISTS oauth;

-- The default users table. Its column names are Nhost Auth's (auth.users), so switching OAUTH_USERS_TABLE to
-- auth.users needs no other setting.
CREATE TABLE IF NOT EXISTS oauth."user" (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text CHECK (email IS NULL OR char_length(email) <= 320),
  email_verified boolean NOT NULL DEFAULT false,
  display_name text CHECK (display_name IS NULL OR char_length(display_name) <= 400),
  avatar_url text CHECK (avatar_url IS NULL OR char_length(avatar_url) <= 2048),
  locale text CHECK (locale IS NULL OR char_length(locale) <= 35),
  default_role text NOT NULL DEFAULT 'user',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS user_email_idx ON oauth."user" (lower(email));

-- A user's account at a provider. user_id is not a foreign key: the users table is configurable.
CREATE TABLE IF NOT EXISTS oauth.identity (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  provider text NOT NULL,
  provider_user_id text NOT NULL,
  email text,
  email_verified boolean NOT NULL DEFAULT false,
  name text,
  avatar_url text,
  locale text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_sign_in_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT identity_provider_user_key UNIQUE (provider, provider_user_id)
);
CREATE INDEX IF NOT EXISTS identity_user_idx ON oauth.identity (user_id);

-- A sign-in in progress, from oauthStart to the provider's callback. The state travels in URLs, so only its
-- hash is kept; the browser secret is a cookie set when the browser opens the start URL.
CREATE TABLE IF NOT EXISTS oauth.flow (
  state_hash bytea PRIMARY KEY,
  provider text NOT NULL,
  redirect_to text NOT NULL,
  code_verifier text NOT NULL,
  nonce text NOT NULL,
  link_user_id uuid,
  browser_hash bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  bound_at timestamptz,
  used_at timestamptz
);
CREATE INDEX IF NOT EXISTS flow_expires_idx ON oauth.flow (expires_at);

-- The one-time code the callback hands to the app with the provider's verified profile; oauthExchangeCode
-- turns it into a session once.
CREATE TABLE IF NOT EXISTS oauth.login_code (
  code_hash bytea PRIMARY KEY,
  provider text NOT NULL,
  profile jsonb NOT NULL,
  link_user_id uuid,
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX IF NOT EXISTS login_code_expires_idx ON oauth.login_code (expires_at);

-- Refresh tokens, hashed. Each use marks the row used and adds its successor to the family; a used token
-- presented again revokes the whole family (it was stolen, or its successor was).
CREATE TABLE IF NOT EXISTS oauth.refresh_token (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  family_id uuid NOT NULL,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  revoke_reason text
);
CREATE INDEX IF NOT EXISTS refresh_token_family_idx ON oauth.refresh_token (family_id);
CREATE INDEX IF NOT EXISTS refresh_token_user_idx ON oauth.refresh_token (user_id) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS refresh_token_expires_idx ON oauth.refresh_token (expires_at);

-- Sign-in audit: every attempt that reached the callback or the code exchange, readable by its user.
CREATE TABLE IF NOT EXISTS oauth.sign_in (
  id bigserial PRIMARY KEY,
  user_id uuid,
  provider text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'linked')),
  reason text,
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sign_in_user_idx ON oauth.sign_in (user_id, created_at DESC);
