/**
 * Sign-in against a real OpenID Provider (oidc-provider) through the real server and the harness: the code +
 * PKCE + nonce flow driven over HTTP with cookie jars, sessions, refresh rotation, linking and unlinking.
 */
import { jwtVerify } from 'jose';
import { APP, count, errorCode, EXCHANGE, HS_KEY, IDENTITIES, PROVIDERS, REFRESH, reservePublicUrl, SIGN_OUT, START, startOAuth, UNLINK, type OAuthEnv } from './support/fixture.js';
import { newBrowser, startIdp, type Idp } from './support/idp.js';

let env: OAuthEnv;
let idp: Idp;
let publicUrl: string;

beforeAll(async () => {
  const reserved = await reservePublicUrl();
  publicUrl = reserved.publicUrl;
  idp = await startIdp([`${publicUrl}/hooks/oauth/idp/callback`, `${publicUrl}/hooks/oauth/corp/callback`]);
  env = await startOAuth('oauth_oidc', reserved.port, {
    OAUTH_OIDC_PROVIDERS: 'idp,corp',
    OAUTH_OIDC_IDP_ISSUER: idp.issuer,
    OAUTH_OIDC_IDP_CLIENT_ID: idp.clientId,
    OAUTH_OIDC_IDP_CLIENT_SECRET: idp.clientSecret,
    OAUTH_OIDC_IDP_DISPLAY_NAME: 'Test IdP',
    // A second generic provider on the same issuer, under its own name.
    OAUTH_OIDC_CORP_ISSUER: idp.issuer,
    OAUTH_OIDC_CORP_CLIENT_ID: idp.clientId,
    OAUTH_OIDC_CORP_CLIENT_SECRET: idp.clientSecret,
  });
  idp.accounts.set('alice', { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', picture: 'https://img.example.com/a.png', locale: 'en-GB' });
});
afterAll(async () => {
  await env?.close();
  await idp?.close();
});

const claimsOf = async (jwt: string) => (await jwtVerify(jwt, new TextEncoder().encode(HS_KEY))).payload;

/** Starts a sign-in, logs in at the provider as `login` and returns where the browser lands in the app. */
async function signIn(login: string, opts: { provider?: string; as?: string | null; link?: boolean } = {}) {
  const started = await env.as(opts.as ?? null, START, { provider: opts.provider ?? 'idp', redirectTo: APP, link: opts.link ?? null });
  expect(started.errors).toBeUndefined();
  const browser = newBrowser();
  const landed = await browser.signIn(started.data.oauthStart.url, login, APP);
  return { landed, browser };
}

async function signInAndExchange(login: string, opts: { provider?: string; as?: string | null; link?: boolean } = {}) {
  const { landed } = await signIn(login, opts);
  const code = landed.searchParams.get('code');
  expect(landed.searchParams.get('error')).toBeNull();
  const res = await env.as(opts.as ?? null, EXCHANGE, { code });
  expect(res.errors).toBeUndefined();
  return res.data.oauthExchangeCode;
}

describe('providers and a first sign-in', () => {
  it('lists the enabled providers for the sign-in buttons', async () => {
    const res = await env.as(null, PROVIDERS);
    expect(res.data.oauthProviders).toEqual([
      { id: 'idp', displayName: 'Test IdP', kind: 'oidc' },
      { id: 'corp', displayName: 'corp', kind: 'oidc' },
    ]);
  });

  it('signs a new user in: code + PKCE + nonce, a Hasura JWT, a refresh token, an identity and an audit row', async () => {
    const session = await signInAndExchange('alice');
    expect(session).toMatchObject({ expiresIn: 900, created: true, linked: false, user: { email: 'alice@example.com', displayName: 'Alice Liddell', avatarUrl: 'https://img.example.com/a.png' } });
    const claims = await claimsOf(session.accessToken);
    expect(claims.sub).toBe(session.user.id);
    expect(claims['https://hasura.io/jwt/claims']).toEqual({
      'x-hasura-user-id': session.user.id,
      'x-hasura-default-role': 'user',
      'x-hasura-allowed-roles': ['user', 'me'],
      // The stripe plugin (enabled by default beside this one) adds the user's plan through the claims hook.
      'x-hasura-plan': 'free',
      'x-hasura-features': '{}',
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    const identity = await env.pool.query('SELECT provider, provider_user_id, email, email_verified, locale FROM oauth.identity WHERE user_id = $1', [session.user.id]);
    expect(identity.rows).toEqual([{ provider: 'idp', provider_user_id: 'alice', email: 'alice@example.com', email_verified: true, locale: 'en-GB' }]);
    const audit = await env.pool.query(`SELECT provider, outcome, ip, user_agent FROM oauth.sign_in WHERE user_id = $1`, [session.user.id]);
    expect(audit.rows).toEqual([{ provider: 'idp', outcome: 'success', ip: expect.stringMatching(/127\.0\.0\.1/), user_agent: expect.any(String) }]);
    // The stored state, verifier and refresh token are never the values that travelled.
    expect(await count(env.pool, 'SELECT 1 FROM oauth.refresh_token WHERE user_id = $1 AND token_hash = sha256(convert_to($2, \'UTF8\'))', [session.user.id, session.refreshToken])).toBe(1);
  });

  it('signs the same account in again as the same user, and the user reads their own identities and audit rows', async () => {
    const first = await signInAndExchange('alice');
    const again = await signInAndExchange('alice');
    expect(again.user.id).toBe(first.user.id);
    expect(again.created).toBe(false);
    const ids = await env.as(first.user.id, IDENTITIES);
    expect(ids.data.oauthIdentities).toEqual([{ id: expect.any(String), provider: 'idp', email: 'alice@example.com', emailVerified: true, name: 'Alice Liddell' }]);
    const signIns = { schema: 'oauth', name: 'sign_in' };
    const audit = await env.harness.select('user', { role: 'user', userId: first.user.id }, signIns, {});
    expect(audit.length).toBeGreaterThanOrEqual(2);
    expect(audit.every((row: any) => row.user_id === first.user.id && row.outcome === 'success')).toBe(true);
    const stranger = await env.harness.select('user', { role: 'user', userId: '00000000-0000-4000-8000-000000000000' }, signIns, {});
    expect(stranger).toEqual([]);
  });
});

describe('a state is single-use and bound to the browser that opened it', () => {
  it('refuses a replayed callback and changes nothing', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'alice', publicUrl);
    expect(callback.pathname).toBe('/hooks/oauth/idp/callback');
    const first = await browser.open(callback.href);
    expect(new URL(first.location!).searchParams.get('code')).toBeTruthy();
    const codes = await count(env.pool, 'SELECT 1 FROM oauth.login_code');
    const replay = await browser.open(callback.href);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body).error).toBe('oauth/state-invalid');
    expect(await count(env.pool, 'SELECT 1 FROM oauth.login_code')).toBe(codes);
  });

  it('refuses the callback in another browser', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const callback = await newBrowser().signIn(started.data.oauthStart.url, 'alice', publicUrl);
    const codes = await count(env.pool, 'SELECT 1 FROM oauth.login_code');
    const elsewhere = await newBrowser().open(callback.href);
    expect(elsewhere.status).toBe(302);
    expect(new URL(elsewhere.location!).searchParams.get('error')).toBe('oauth/other-browser');
    expect(await count(env.pool, 'SELECT 1 FROM oauth.login_code')).toBe(codes);
    expect(await count(env.pool, `SELECT 1 FROM oauth.sign_in WHERE reason = 'oauth/other-browser'`)).toBe(1);
  });

  it('lets only the first browser open a start URL', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const a = await newBrowser().open(started.data.oauthStart.url);
    expect(a.status).toBe(302);
    expect(new URL(a.location!).origin).toBe(idp.issuer);
    const b = await newBrowser().open(started.data.oauthStart.url);
    expect(b.status).toBe(400);
    expect(JSON.parse(b.body).error).toBe('oauth/state-invalid');
  });

  it('refuses an expired state', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'alice', publicUrl);
    await env.pool.query(`UPDATE oauth.flow SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND bound_at IS NOT NULL`);
    const res = await browser.open(callback.href);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/state-expired');
  });

  it('refuses a state of another provider', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'alice', publicUrl);
    const wrong = new URL(callback.href.replace('/idp/', '/corp/'));
    const res = await browser.open(wrong.href);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toBe('oauth/state-invalid');
  });
});

describe('the provider\'s answer is verified', () => {
  it('refuses a wrong PKCE verifier (the provider rejects the code)', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'alice', publicUrl);
    await env.pool.query(`UPDATE oauth.flow SET code_verifier = 'x' || repeat('y', 50) WHERE used_at IS NULL AND bound_at IS NOT NULL`);
    const res = await browser.open(callback.href);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/provider-rejected');
  });

  it('refuses an id_token with another nonce', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'alice', publicUrl);
    await env.pool.query(`UPDATE oauth.flow SET nonce = 'another-nonce-value' WHERE used_at IS NULL AND bound_at IS NOT NULL`);
    const users = await count(env.pool, 'SELECT 1 FROM oauth."user"');
    const res = await browser.open(callback.href);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/provider-rejected');
    expect(await count(env.pool, 'SELECT 1 FROM oauth."user"')).toBe(users);
  });

  it('passes the provider\'s refusal on to the app', async () => {
    const started = await env.as(null, START, { provider: 'idp', redirectTo: APP });
    const browser = newBrowser();
    const start = await browser.open(started.data.oauthStart.url);
    const state = new URL(start.location!).searchParams.get('state')!;
    const res = await browser.open(`${publicUrl}/hooks/oauth/idp/callback?error=access_denied&state=${state}`);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/provider-denied');
  });
});

describe('redirect targets', () => {
  it.each([
    ['a protocol-relative URL', '//evil.example/auth/'],
    ['javascript:', 'javascript:alert(1)'],
    ['a look-alike host', 'https://app.example.com.evil.com/auth/'],
    ['credentials before the host', 'https://app.example.com@evil.com/auth/'],
    ['an encoded slash', 'https://app.example.com/auth/..%2f..%2fadmin'],
    ['a dot-dot out of the prefix', 'https://app.example.com/auth/../admin'],
    ['a backslash', 'https://app.example.com\\@evil.com/auth/'],
    ['another scheme', 'http://app.example.com/auth/done'],
    ['a path beside the prefix', 'https://app.example.com/authx'],
    ['a data: URL', 'data:text/html,hi'],
  ])('refuses %s and stores nothing', async (_what, redirectTo) => {
    const flows = await count(env.pool, 'SELECT 1 FROM oauth.flow');
    const res = await env.as(null, START, { provider: 'idp', redirectTo });
    expect(errorCode(res)).toBe('oauth/redirect-not-allowed');
    expect(await count(env.pool, 'SELECT 1 FROM oauth.flow')).toBe(flows);
  });

  it('refuses an unknown provider', async () => {
    const res = await env.as(null, START, { provider: 'myspace', redirectTo: APP });
    expect(errorCode(res)).toBe('oauth/unknown-provider');
  });
});

describe('account linking by email', () => {
  it('never joins an existing account through an unverified email', async () => {
    const existing = await env.pool.query<{ id: string }>(`INSERT INTO oauth."user" (email, email_verified) VALUES ('bob@example.com', true) RETURNING id::text`);
    idp.accounts.set('mallory', { email: 'bob@example.com', email_verified: false, name: 'Not Bob' });
    const session = await signInAndExchange('mallory');
    expect(session.user.id).not.toBe(existing.rows[0]!.id);
    expect(session.created).toBe(true);
    expect(await count(env.pool, 'SELECT 1 FROM oauth.identity WHERE user_id = $1', [existing.rows[0]!.id])).toBe(0);
  });

  it('joins the existing user with a verified email when the provider vouches for it', async () => {
    const existing = await env.pool.query<{ id: string }>(`INSERT INTO oauth."user" (email, email_verified) VALUES ('carol@example.com', true) RETURNING id::text`);
    idp.accounts.set('carol', { email: 'Carol@example.com', email_verified: true });
    const session = await signInAndExchange('carol');
    expect(session.user.id).toBe(existing.rows[0]!.id);
    expect(session.created).toBe(false);
  });

  it('does not join a user whose own email was never verified', async () => {
    const existing = await env.pool.query<{ id: string }>(`INSERT INTO oauth."user" (email, email_verified) VALUES ('dave@example.com', false) RETURNING id::text`);
    idp.accounts.set('dave', { email: 'dave@example.com', email_verified: true });
    const session = await signInAndExchange('dave');
    expect(session.user.id).not.toBe(existing.rows[0]!.id);
  });
});

describe('one-time codes', () => {
  it('works once', async () => {
    const { landed } = await signIn('alice');
    const code = landed.searchParams.get('code')!;
    expect((await env.as(null, EXCHANGE, { code })).errors).toBeUndefined();
    expect(errorCode(await env.as(null, EXCHANGE, { code }))).toBe('oauth/invalid-code');
  });

  it.each([
    ['an unknown code', { code: 'A'.repeat(43) }, 'oauth/invalid-code'],
    ['a code that is too long', { code: 'A'.repeat(5000) }, 'oauth/invalid-input'],
    ['a code with odd characters', { code: "x'; drop table oauth.flow; --" }, 'oauth/invalid-input'],
    ['a number', { code: 12 }, 'validation-failed'],
    ['no code', {}, 'validation-failed'],
  ])('refuses %s', async (_what, vars, code) => {
    expect(errorCode(await env.as(null, EXCHANGE, vars))).toBe(code);
  });

  it('expires', async () => {
    const { landed } = await signIn('alice');
    await env.pool.query(`UPDATE oauth.login_code SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`);
    expect(errorCode(await env.as(null, EXCHANGE, { code: landed.searchParams.get('code') }))).toBe('oauth/invalid-code');
  });
});

describe('refresh tokens', () => {
  it('rotate, and a reused one revokes its whole family', async () => {
    idp.accounts.set('erin', { email: 'erin@example.com', email_verified: true });
    const s0 = await signInAndExchange('erin');
    const r1 = await env.as(null, REFRESH, { t: s0.refreshToken });
    expect(r1.errors).toBeUndefined();
    expect(r1.data.oauthRefresh.user.id).toBe(s0.user.id);
    expect((await claimsOf(r1.data.oauthRefresh.accessToken)).sub).toBe(s0.user.id);
    const r2 = await env.as(null, REFRESH, { t: r1.data.oauthRefresh.refreshToken });
    expect(r2.errors).toBeUndefined();
    // The first token again: someone holds a copy. Its family ends, the newest token included.
    expect(errorCode(await env.as(null, REFRESH, { t: s0.refreshToken }))).toBe('oauth/refresh-token-reused');
    expect(errorCode(await env.as(null, REFRESH, { t: r2.data.oauthRefresh.refreshToken }))).toBe('oauth/invalid-refresh-token');
    expect(await count(env.pool, `SELECT 1 FROM oauth.refresh_token WHERE user_id = $1 AND revoked_at IS NULL`, [s0.user.id])).toBe(0);
  });

  it('keeps other sessions of the user when one family is revoked', async () => {
    idp.accounts.set('frank', { email: 'frank@example.com', email_verified: true });
    const a = await signInAndExchange('frank');
    const b = await signInAndExchange('frank');
    await env.as(null, REFRESH, { t: a.refreshToken });
    await env.as(null, REFRESH, { t: a.refreshToken });
    expect((await env.as(null, REFRESH, { t: b.refreshToken })).errors).toBeUndefined();
  });

  it.each([
    ['an unknown token', { t: 'B'.repeat(43) }, 'oauth/invalid-refresh-token'],
    ['an oversize token', { t: 'B'.repeat(10_000) }, 'oauth/invalid-input'],
    ['a number', { t: 5 }, 'validation-failed'],
  ])('refuses %s', async (_what, vars, code) => {
    expect(errorCode(await env.as(null, REFRESH, vars))).toBe(code);
  });

  it('refuses an expired token', async () => {
    idp.accounts.set('gina', { email: 'gina@example.com', email_verified: true });
    const s = await signInAndExchange('gina');
    await env.pool.query(`UPDATE oauth.refresh_token SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [s.user.id]);
    expect(errorCode(await env.as(null, REFRESH, { t: s.refreshToken }))).toBe('oauth/invalid-refresh-token');
  });
});

describe('sign-out', () => {
  it('ends this session, or all of them; another user\'s token revokes nothing', async () => {
    idp.accounts.set('hank', { email: 'hank@example.com', email_verified: true });
    const a = await signInAndExchange('hank');
    const b = await signInAndExchange('hank');
    const c = await signInAndExchange('hank');
    const stranger = await signInAndExchange('alice');
    expect((await env.as(stranger.user.id, SIGN_OUT, { t: a.refreshToken })).data.oauthSignOut.revoked).toBe(0);
    expect((await env.as(a.user.id, SIGN_OUT, { t: a.refreshToken })).data.oauthSignOut.revoked).toBe(1);
    expect(errorCode(await env.as(null, REFRESH, { t: a.refreshToken }))).toBe('oauth/invalid-refresh-token');
    expect((await env.as(null, REFRESH, { t: b.refreshToken })).errors).toBeUndefined();
    // b was refreshed once: its family counts once.
    expect((await env.as(a.user.id, SIGN_OUT, { all: true })).data.oauthSignOut.revoked).toBe(2);
    expect(errorCode(await env.as(null, REFRESH, { t: c.refreshToken }))).toBe('oauth/invalid-refresh-token');
    expect(errorCode(await env.as(null, SIGN_OUT, { all: true }))).toBe('validation-failed');
  });
});

describe('linking and unlinking', () => {
  it('links a second provider account, refuses removing the last one, and removes one of two', async () => {
    idp.accounts.set('ivy', { email: 'ivy@example.com', email_verified: true });
    idp.accounts.set('ivy-work', { email: 'ivy@work.example.com', email_verified: true });
    const s = await signInAndExchange('ivy');
    const only = (await env.as(s.user.id, IDENTITIES)).data.oauthIdentities;
    expect(errorCode(await env.as(s.user.id, UNLINK, { id: only[0].id }))).toBe('oauth/last-identity');

    const linked = await signInAndExchange('ivy-work', { provider: 'corp', as: s.user.id, link: true });
    expect(linked).toMatchObject({ linked: true, created: false, user: { id: s.user.id } });
    const both = (await env.as(s.user.id, IDENTITIES)).data.oauthIdentities;
    expect(both.map((i: any) => i.provider).sort()).toEqual(['corp', 'idp']);

    const stranger = await signInAndExchange('alice');
    expect(errorCode(await env.as(stranger.user.id, UNLINK, { id: both[0].id }))).toBe('oauth/identity-not-found');
    expect(errorCode(await env.as(s.user.id, UNLINK, { id: 'not-a-uuid' }))).toBe('oauth/invalid-input');
    const done = await env.as(s.user.id, UNLINK, { id: both[0].id });
    expect(done.data.oauthUnlink).toEqual({ id: both[0].id, unlinked: true });
    expect(errorCode(await env.as(s.user.id, UNLINK, { id: both[1].id }))).toBe('oauth/last-identity');
  });

  it('finishes a link only for the user who started it', async () => {
    idp.accounts.set('jack', { email: 'jack@example.com', email_verified: true });
    idp.accounts.set('victim-idp', { email: 'victim@example.com', email_verified: true });
    const attacker = await signInAndExchange('jack');
    const { landed } = await signIn('victim-idp', { provider: 'corp', as: attacker.user.id, link: true });
    const code = landed.searchParams.get('code');
    const before = await count(env.pool, 'SELECT 1 FROM oauth.identity');
    expect(errorCode(await env.as(null, EXCHANGE, { code }))).toBe('oauth/wrong-user');
    expect(await count(env.pool, 'SELECT 1 FROM oauth.identity')).toBe(before);
  });

  it('refuses to link an account that belongs to another user', async () => {
    idp.accounts.set('kim', { email: 'kim@example.com', email_verified: true });
    const kim = await signInAndExchange('kim');
    const alice = await signInAndExchange('alice');
    const { landed } = await signIn('kim', { as: alice.user.id, link: true });
    expect(errorCode(await env.as(alice.user.id, EXCHANGE, { code: landed.searchParams.get('code') }))).toBe('oauth/identity-taken');
    expect(await count(env.pool, `SELECT 1 FROM oauth.identity WHERE provider_user_id = 'kim' AND user_id = $1`, [kim.user.id])).toBe(1);
  });

  it('needs a session to start a link', async () => {
    expect(errorCode(await env.as(null, START, { provider: 'idp', redirectTo: APP, link: true }))).toBe('oauth/no-user');
  });
});
