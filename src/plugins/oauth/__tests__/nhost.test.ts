/**
 * Nhost Auth's tables: users in `auth.users`, and `auth.user_providers` kept in step with the identities
 * (OAUTH_NHOST_USER_PROVIDERS), against a schema shaped like Nhost Auth's own migrations.
 */
import pg from 'pg';
import { createRuntime } from '../../../core/runtime.js';
import { createScratchDatabase, REDIS_URL } from '../../../../test/support/db.js';
import { APP, count, errorCode, EXCHANGE, HS_KEY, IDENTITIES, REDIS_DB, reservePublicUrl, SECRET, START, startOAuth, UNLINK, type OAuthEnv } from './support/fixture.js';
import { newBrowser, startIdp, type Idp } from './support/idp.js';

/** Nhost Auth's tables as its migrations create them (the columns this plugin touches, with their constraints). */
const NHOST_SCHEMA = `
  CREATE SCHEMA auth;
  CREATE FUNCTION auth.set_current_timestamp_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
  CREATE TABLE auth.roles (role text PRIMARY KEY);
  INSERT INTO auth.roles (role) VALUES ('user'), ('anonymous'), ('me');
  CREATE TABLE auth.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL PRIMARY KEY,
    created_at timestamptz DEFAULT now() NOT NULL,
    updated_at timestamptz DEFAULT now() NOT NULL,
    last_seen timestamptz,
    disabled boolean DEFAULT false NOT NULL,
    display_name text DEFAULT '' NOT NULL,
    avatar_url text DEFAULT '' NOT NULL,
    locale varchar(2) DEFAULT 'en' NOT NULL,
    email text UNIQUE,
    password_hash text,
    email_verified boolean DEFAULT false NOT NULL,
    default_role text DEFAULT 'user' NOT NULL REFERENCES auth.roles (role) ON UPDATE CASCADE ON DELETE RESTRICT,
    is_anonymous boolean DEFAULT false NOT NULL
  );
  CREATE TABLE auth.providers (id text NOT NULL PRIMARY KEY);
  INSERT INTO auth.providers (id) VALUES ('github'), ('google'), ('apple'), ('gitlab'), ('bitbucket');
  CREATE TABLE auth.user_providers (
    id uuid DEFAULT gen_random_uuid() NOT NULL PRIMARY KEY,
    created_at timestamptz DEFAULT now() NOT NULL,
    updated_at timestamptz DEFAULT now() NOT NULL,
    user_id uuid NOT NULL,
    access_token text NOT NULL,
    refresh_token text,
    provider_id text NOT NULL,
    provider_user_id text NOT NULL,
    UNIQUE (user_id, provider_id),
    UNIQUE (provider_id, provider_user_id)
  );
  ALTER TABLE auth.user_providers ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES auth.users (id) ON UPDATE CASCADE ON DELETE CASCADE;
  ALTER TABLE auth.user_providers ADD CONSTRAINT fk_provider FOREIGN KEY (provider_id) REFERENCES auth.providers (id) ON UPDATE CASCADE ON DELETE RESTRICT;
  CREATE TRIGGER set_auth_user_providers_updated_at BEFORE UPDATE ON auth.user_providers FOR EACH ROW EXECUTE FUNCTION auth.set_current_timestamp_updated_at();
`;

const NHOST_SETTINGS = { OAUTH_USERS_TABLE: 'auth.users', OAUTH_NHOST_USER_PROVIDERS: 'true' };

let env: OAuthEnv;
let idp: Idp;

beforeAll(async () => {
  const reserved = await reservePublicUrl();
  idp = await startIdp([`${reserved.publicUrl}/hooks/oauth/idp/callback`, `${reserved.publicUrl}/hooks/oauth/corp/callback`]);
  const provider = (name: string) => ({
    [`OAUTH_OIDC_${name}_ISSUER`]: idp.issuer,
    [`OAUTH_OIDC_${name}_CLIENT_ID`]: idp.clientId,
    [`OAUTH_OIDC_${name}_CLIENT_SECRET`]: idp.clientSecret,
  });
  env = await startOAuth('oauth_nhost', reserved.port, { OAUTH_OIDC_PROVIDERS: 'idp,corp', ...provider('IDP'), ...provider('CORP'), ...NHOST_SETTINGS }, async (pool) => {
    await pool.query(NHOST_SCHEMA);
  });
  for (const login of ['alice', 'alice-work', 'alice-second', 'bob', 'carol']) idp.accounts.set(login, { email: `${login}@example.com`, email_verified: true, name: login });
});
afterAll(async () => {
  await env?.close();
  await idp?.close();
});

async function signIn(login: string, opts: { provider?: string; as?: string; link?: boolean } = {}) {
  const started = await env.as(opts.as ?? null, START, { provider: opts.provider ?? 'idp', redirectTo: APP, link: opts.link ?? null });
  expect(started.errors).toBeUndefined();
  const landed = await newBrowser().signIn(started.data.oauthStart.url, login, APP);
  return env.as(opts.as ?? null, EXCHANGE, { code: landed.searchParams.get('code') });
}

const links = async (userId: string) =>
  (await env.pool.query('SELECT provider_id, provider_user_id, access_token, refresh_token FROM auth.user_providers WHERE user_id = $1 ORDER BY provider_id', [userId])).rows;

describe('Nhost Auth\'s auth.user_providers', () => {
  it('refuses to start when the setting is on but Nhost Auth\'s tables are not there', async () => {
    const db = await createScratchDatabase('oauth_nhost_missing');
    try {
      await expect(
        createRuntime({ DATABASE_URL: db.url, REDIS_URL: `${REDIS_URL}/${REDIS_DB}`, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent', JOBS_WORKERS: 'false', PLUGINS_ENABLED: 'oauth', OAUTH_JWT_SECRET: JSON.stringify({ type: 'HS256', key: HS_KEY }), ...NHOST_SETTINGS }),
      ).rejects.toThrow(/OAUTH_NHOST_USER_PROVIDERS is on but auth\.user_providers/);
    } finally {
      await db.drop();
    }
  });

  it('creates the user in auth.users and records the provider account, adding the provider to auth.providers', async () => {
    const res = await signIn('alice');
    expect(res.errors).toBeUndefined();
    const session = res.data.oauthExchangeCode;
    expect(session.created).toBe(true);
    const user = await env.pool.query('SELECT email, email_verified, display_name, locale, default_role FROM auth.users WHERE id = $1', [session.user.id]);
    expect(user.rows).toEqual([{ email: 'alice@example.com', email_verified: true, display_name: 'alice', locale: 'en', default_role: 'user' }]);
    expect(await links(session.user.id)).toEqual([{ provider_id: 'idp', provider_user_id: 'alice', access_token: '', refresh_token: null }]);
    expect(await count(env.pool, `SELECT 1 FROM auth.providers WHERE id = 'idp'`)).toBe(1);

    // Signing in again touches the same row.
    const again = await signIn('alice');
    expect(again.data.oauthExchangeCode.user.id).toBe(session.user.id);
    expect(await count(env.pool, 'SELECT 1 FROM auth.user_providers WHERE user_id = $1', [session.user.id])).toBe(1);
  });

  it('signs a provider account Nhost Auth linked earlier in to that user', async () => {
    const nhostUser = await env.pool.query<{ id: string }>(`INSERT INTO auth.users (email, email_verified, display_name) VALUES ('robert@example.com', false, 'Robert') RETURNING id::text`);
    await env.pool.query(`INSERT INTO auth.providers (id) VALUES ('idp') ON CONFLICT DO NOTHING`);
    await env.pool.query(`INSERT INTO auth.user_providers (user_id, access_token, provider_id, provider_user_id) VALUES ($1, 'nhost-token', 'idp', 'bob')`, [nhostUser.rows[0]!.id]);
    const users = await count(env.pool, 'SELECT 1 FROM auth.users');
    const res = await signIn('bob');
    expect(res.data.oauthExchangeCode).toMatchObject({ created: false, user: { id: nhostUser.rows[0]!.id, displayName: 'Robert' } });
    expect(await count(env.pool, 'SELECT 1 FROM auth.users')).toBe(users);
    // Nhost Auth's row stays as it was (its token included); the identity is now known here too.
    expect(await links(nhostUser.rows[0]!.id)).toEqual([{ provider_id: 'idp', provider_user_id: 'bob', access_token: 'nhost-token', refresh_token: null }]);
    expect(await count(env.pool, `SELECT 1 FROM oauth.identity WHERE provider_user_id = 'bob' AND user_id = $1`, [nhostUser.rows[0]!.id])).toBe(1);
  });

  it('adds a row on link and removes it on unlink', async () => {
    const alice = (await signIn('alice')).data.oauthExchangeCode.user.id as string;
    const linked = await signIn('alice-work', { provider: 'corp', as: alice, link: true });
    expect(linked.data.oauthExchangeCode.linked).toBe(true);
    expect((await links(alice)).map((l: any) => `${l.provider_id}:${l.provider_user_id}`)).toEqual(['corp:alice-work', 'idp:alice']);
    const corp = (await env.as(alice, IDENTITIES)).data.oauthIdentities.find((i: any) => i.provider === 'corp');
    expect((await env.as(alice, UNLINK, { id: corp.id })).data.oauthUnlink.unlinked).toBe(true);
    expect((await links(alice)).map((l: any) => `${l.provider_id}:${l.provider_user_id}`)).toEqual(['idp:alice']);
  });

  it('refuses a second account of the same provider for one user (Nhost keeps one per provider), writing nothing', async () => {
    const alice = (await signIn('alice')).data.oauthExchangeCode.user.id as string;
    const identities = await count(env.pool, 'SELECT 1 FROM oauth.identity');
    const rows = await count(env.pool, 'SELECT 1 FROM auth.user_providers');
    const res = await signIn('alice-second', { provider: 'idp', as: alice, link: true });
    expect(errorCode(res)).toBe('oauth/provider-already-linked');
    expect(await count(env.pool, 'SELECT 1 FROM oauth.identity')).toBe(identities);
    expect(await count(env.pool, 'SELECT 1 FROM auth.user_providers')).toBe(rows);
  });

  it('refuses linking an account Nhost Auth linked to another user', async () => {
    const owner = await env.pool.query<{ id: string }>(`INSERT INTO auth.users (email) VALUES ('owner@example.com') RETURNING id::text`);
    await env.pool.query(`INSERT INTO auth.user_providers (user_id, access_token, provider_id, provider_user_id) VALUES ($1, 't', 'corp', 'carol')`, [owner.rows[0]!.id]);
    const alice = (await signIn('alice')).data.oauthExchangeCode.user.id as string;
    const rows = await count(env.pool, 'SELECT 1 FROM auth.user_providers');
    expect(errorCode(await signIn('carol', { provider: 'corp', as: alice, link: true }))).toBe('oauth/identity-taken');
    expect(await count(env.pool, 'SELECT 1 FROM auth.user_providers')).toBe(rows);
    expect(await count(env.pool, `SELECT 1 FROM oauth.identity WHERE provider_user_id = 'carol'`)).toBe(0);
  });
});
