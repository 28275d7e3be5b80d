/**
 * GitHub, Apple and Microsoft against strict fakes of their endpoints (they cannot run here), and id_token
 * attacks against a generic OpenID provider that misbehaves on purpose. Each sign-in goes through the real
 * server: oauthStart, the browser with its cookie jar, the callback, oauthExchangeCode.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { APP, count, errorCode, EXCHANGE, reservePublicUrl, START, startOAuth, type OAuthEnv } from './support/fixture.js';
import { newBrowser } from './support/idp.js';
import { appleKey, startFake, type Fake, type IdTokenMode } from './support/fakes.js';

let env: OAuthEnv;
let github: Fake;
let discord: Fake;
let apple: Fake;
let microsoft: Fake;
let rogue: Fake;

beforeAll(async () => {
  const reserved = await reservePublicUrl();
  const key = appleKey();
  github = await startFake({ kind: 'github' });
  discord = await startFake({ kind: 'discord' });
  apple = await startFake({ kind: 'apple', apple: { publicKey: key.publicKey, teamId: 'TEAM123456', keyId: 'KEY1234567' } });
  microsoft = await startFake({ kind: 'microsoft', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47' });
  rogue = await startFake({ kind: 'oidc' });
  const sessionKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  env = await startOAuth('oauth_providers', reserved.port, {
    // Asymmetric sessions here (the other suite signs HS256): Hasura reads the keys from the JWKS route.
    OAUTH_JWT_SECRET: JSON.stringify({ type: 'ES256', key: sessionKey, kid: 'session-1' }),
    OAUTH_PROVIDERS: 'github,discord,apple,microsoft',
    OAUTH_DISCORD_CLIENT_ID: discord.clientId,
    OAUTH_DISCORD_CLIENT_SECRET: discord.clientSecret,
    OAUTH_DISCORD_URL: discord.base,
    OAUTH_GITHUB_CLIENT_ID: github.clientId,
    OAUTH_GITHUB_CLIENT_SECRET: github.clientSecret,
    OAUTH_GITHUB_URL: github.base,
    OAUTH_GITHUB_API_URL: `${github.base}/api`,
    OAUTH_APPLE_CLIENT_ID: apple.clientId,
    OAUTH_APPLE_TEAM_ID: 'TEAM123456',
    OAUTH_APPLE_KEY_ID: 'KEY1234567',
    OAUTH_APPLE_PRIVATE_KEY: key.pem.replace(/\n/g, '\\n'),
    OAUTH_APPLE_URL: apple.base,
    OAUTH_MICROSOFT_CLIENT_ID: microsoft.clientId,
    OAUTH_MICROSOFT_CLIENT_SECRET: microsoft.clientSecret,
    OAUTH_MICROSOFT_AUTHORITY: microsoft.base,
    OAUTH_OIDC_PROVIDERS: 'rogue',
    OAUTH_OIDC_ROGUE_ISSUER: rogue.base,
    OAUTH_OIDC_ROGUE_CLIENT_ID: rogue.clientId,
    OAUTH_OIDC_ROGUE_CLIENT_SECRET: rogue.clientSecret,
  });
});
afterAll(async () => {
  await env?.close();
  for (const f of [github, discord, apple, microsoft, rogue]) await f?.close();
});

async function signIn(provider: string) {
  const started = await env.as(null, START, { provider, redirectTo: APP });
  expect(started.errors).toBeUndefined();
  return newBrowser().signIn(started.data.oauthStart.url, 'unused', APP);
}

async function exchange(landed: URL) {
  expect(landed.searchParams.get('error')).toBeNull();
  const res = await env.as(null, EXCHANGE, { code: landed.searchParams.get('code') });
  expect(res.errors).toBeUndefined();
  return res.data.oauthExchangeCode;
}

const identity = async (provider: string, id: string) =>
  (await env.pool.query('SELECT provider_user_id, email, email_verified, name FROM oauth.identity WHERE provider = $1 AND provider_user_id = $2', [provider, id])).rows[0];

describe('GitHub', () => {
  it('signs in with the verified primary email from the emails API', async () => {
    github.login = {
      id: '583231',
      claims: {
        login: 'octocat',
        name: 'The Octocat',
        avatar_url: 'https://avatars.githubusercontent.com/u/583231',
        emails: [
          { email: 'octo@old.example', primary: false, verified: false },
          { email: 'octocat@github.example', primary: true, verified: true },
        ],
      },
    };
    const session = await exchange(await signIn('github'));
    expect(session.user).toMatchObject({ email: 'octocat@github.example', displayName: 'The Octocat' });
    expect(await identity('github', '583231')).toEqual({ provider_user_id: '583231', email: 'octocat@github.example', email_verified: true, name: 'The Octocat' });
    expect(github.refused).toEqual([]);
    // The session verifies against the published JWKS, as Hasura with {"jwk_url": …} would check it.
    expect(decodeProtectedHeader(session.accessToken)).toMatchObject({ alg: 'ES256', kid: 'session-1' });
    const { payload } = await jwtVerify(session.accessToken, createRemoteJWKSet(new URL(`${env.url}/hooks/oauth/jwks.json`)));
    expect(payload['https://hasura.io/jwt/claims']).toMatchObject({ 'x-hasura-user-id': session.user.id });
  });

  it('treats an account without a verified email as unverified and uses the login as the name', async () => {
    github.login = { id: '777', claims: { login: 'noname', emails: [{ email: 'x@y.example', primary: true, verified: false }] } };
    const session = await exchange(await signIn('github'));
    expect(session.user).toMatchObject({ email: null, displayName: 'noname' });
    expect(await identity('github', '777')).toMatchObject({ email: null, email_verified: false });
  });

  it('fails cleanly when GitHub answers the code exchange with 200 and an error body', async () => {
    github.login = { id: '888', claims: { login: 'late' } };
    const started = await env.as(null, START, { provider: 'github', redirectTo: APP });
    const browser = newBrowser();
    const callback = await browser.signIn(started.data.oauthStart.url, 'unused', env.url);
    // Spend the code first, as a slow or repeated request would.
    await fetch(`${github.base}/login/oauth/access_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ client_id: github.clientId, client_secret: github.clientSecret, code: callback.searchParams.get('code')!, grant_type: 'authorization_code' }),
    });
    const users = await count(env.pool, 'SELECT 1 FROM oauth."user"');
    const res = await browser.open(callback.href);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/provider-rejected');
    expect(await count(env.pool, 'SELECT 1 FROM oauth."user"')).toBe(users);
    github.refused.length = 0;
  });
});

describe('Discord', () => {
  it('signs in with the email scope, the verified flag and a CDN avatar', async () => {
    discord.login = { id: '80351110224678912', claims: { username: 'nelly', global_name: 'Nelly', avatar: '8342729096ea3675442027381ff50dfe', email: 'nelly@discord.example', verified: true } };
    const session = await exchange(await signIn('discord'));
    expect(session.user).toMatchObject({
      email: 'nelly@discord.example',
      displayName: 'Nelly',
      avatarUrl: 'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png',
    });
    expect(await identity('discord', '80351110224678912')).toMatchObject({ email_verified: true });
    expect(discord.refused).toEqual([]);
  });
});

describe('Apple', () => {
  it('posts the answer back (form_post), authenticates with an ES256 client secret and keeps the first-time name', async () => {
    apple.login = { id: '001234.abcdef', claims: { email: 'ada@privaterelay.appleid.com', email_verified: 'true', is_private_email: 'true' } };
    const first = await exchange(await signIn('apple'));
    expect(first.user).toMatchObject({ email: 'ada@privaterelay.appleid.com', displayName: 'Ada Lovelace' });
    expect(await identity('apple', '001234.abcdef')).toEqual({ provider_user_id: '001234.abcdef', email: 'ada@privaterelay.appleid.com', email_verified: true, name: 'Ada Lovelace' });
    // Later sign-ins carry no name: the one from the first stays.
    const again = await exchange(await signIn('apple'));
    expect(again.user.id).toBe(first.user.id);
    expect((await identity('apple', '001234.abcdef')).name).toBe('Ada Lovelace');
    expect(apple.refused).toEqual([]);
  });

  it('refuses a POST callback for a provider that answers with GET', async () => {
    const res = await newBrowser().open(`${env.url}/hooks/oauth/github/callback`, { method: 'POST', body: new URLSearchParams({ state: 'x'.repeat(43) }) });
    expect(res.status).toBe(400);
  });
});

describe('Microsoft', () => {
  it('accepts the tenant-templated issuer and never treats the email claim as verified', async () => {
    const existing = await env.pool.query<{ id: string }>(`INSERT INTO oauth."user" (email, email_verified) VALUES ('ceo@contoso.example', true) RETURNING id::text`);
    microsoft.login = { id: 'ms-sub-1', claims: { email: 'ceo@contoso.example', name: 'Not The CEO', preferred_username: 'ceo@contoso.example' } };
    const session = await exchange(await signIn('microsoft'));
    // An admin of any tenant can type any email: joining the existing user would hand it over.
    expect(session.user.id).not.toBe(existing.rows[0]!.id);
    const row = await identity('microsoft', '72f988bf-86f1-41af-91ab-2d7cd011db47:oid-ms-sub-1');
    expect(row).toMatchObject({ email: 'ceo@contoso.example', email_verified: false });
    expect(microsoft.refused).toEqual([]);
  });
});

describe('id_tokens that must be refused', () => {
  it.each<[string, IdTokenMode]>([
    ['signed by a key the provider does not publish', 'unknown-key'],
    ['with alg: none', 'alg-none'],
    ['expired', 'expired'],
    ['for another audience', 'wrong-audience'],
    ['from another issuer', 'wrong-issuer'],
  ])('refuses an id_token %s and creates nothing', async (_what, mode) => {
    rogue.idTokenMode = mode;
    rogue.login = { id: `rogue-${mode}`, claims: { email: 'victim@example.com', email_verified: true } };
    const users = await count(env.pool, 'SELECT 1 FROM oauth."user"');
    const codes = await count(env.pool, 'SELECT 1 FROM oauth.login_code');
    const landed = await signIn('rogue');
    expect(landed.searchParams.get('error')).toBe('oauth/provider-rejected');
    expect(landed.searchParams.get('code')).toBeNull();
    expect(await count(env.pool, 'SELECT 1 FROM oauth."user"')).toBe(users);
    expect(await count(env.pool, 'SELECT 1 FROM oauth.login_code')).toBe(codes);
    expect(await count(env.pool, `SELECT 1 FROM oauth.sign_in WHERE provider = 'rogue' AND outcome = 'failure'`)).toBeGreaterThan(0);
  });

  it('accepts the same provider when its id_token is sound', async () => {
    rogue.idTokenMode = 'good';
    rogue.login = { id: 'rogue-good', claims: { email: 'fine@example.com', email_verified: true } };
    const session = await exchange(await signIn('rogue'));
    expect(session.user.email).toBe('fine@example.com');
    expect(rogue.refused).toEqual([]);
  });
});

it('refuses a code that is a number', async () => {
  expect(errorCode(await env.as(null, EXCHANGE, { code: 1 }))).toBe('validation-failed');
});
