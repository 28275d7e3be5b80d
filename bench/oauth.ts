/**
 * The oauth plugin's measured paths:
 *   - a full sign-in round trip against a real OpenID Provider (oidc-provider on localhost): oauthStart, the
 *     start URL, the provider's login and consent forms, the callback (code + PKCE exchange, id_token
 *     verification), oauthExchangeCode — median and p95 over sequential sign-ins, each in a new browser;
 *   - the same round trip against a SAML 2.0 IdP (samlify on localhost): the signed AuthnRequest verified by the
 *     IdP, its login form, the signed Response posted to the ACS and verified (signature, audience, recipient,
 *     time, InResponseTo), oauthExchangeCode;
 *   - oauthRefresh requests/s through the real handler server vs a bare node:http server doing one pg UPDATE
 *     and one jose sign per request, same run (goal ≥ 0.70×). Every request presents a fresh refresh token.
 *
 *   npx tsx bench/oauth.ts [seconds]
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { createScratchDatabase } from '../test/support/db.js';
import { freePort, newBrowser, startIdp } from '../src/plugins/oauth/__tests__/support/idp.js';
import { autoPostForm, keyPair, startSamlIdp } from '../src/plugins/oauth/__tests__/support/saml-idp.js';
import { compare, report, SECRET, startServer, type Comparison, type ServerHandle } from './roundtrip-lib.js';

const JWT_SECRET = JSON.stringify({ type: 'HS256', key: 'bench-hmac-key-0123456789-abcdefghijklmnop' });
const APP = 'https://app.example.com/auth/done';
const TOKENS = 400_000;
const USERS = 1000;

const start = (mode: string, env: Record<string, string>): Promise<ServerHandle> => startServer(mode, env, 'oauth-servers.ts');

const envelope = (action: string, input: Record<string, unknown>, session: Record<string, string> = { 'x-hasura-role': 'public' }) =>
  JSON.stringify({ action: { name: action }, input, session_variables: session, request_query: '' });

async function action(url: string, name: string, input: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${url}/actions/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET }, body: envelope(name, input) });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function signInRoundTrip(count: number, say: (l: string) => void): Promise<{ medianMs: number; p95Ms: number; n: number }> {
  const db = await createScratchDatabase('bench_oauth_signin');
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const idp = await startIdp([`${publicUrl}/hooks/oauth/idp/callback`]);
  idp.accounts.set('alice', { email: 'alice@example.com', email_verified: true, name: 'Alice' });
  const runtime = await createRuntime(
    {
      DATABASE_URL: db.url,
      PLUGINS_ENABLED: 'oauth',
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      PUBLIC_URL: publicUrl,
      OAUTH_JWT_SECRET: JWT_SECRET,
      OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com/auth/',
      OAUTH_OIDC_PROVIDERS: 'idp',
      OAUTH_OIDC_IDP_ISSUER: idp.issuer,
      OAUTH_OIDC_IDP_CLIENT_ID: idp.clientId,
      OAUTH_OIDC_IDP_CLIENT_SECRET: idp.clientSecret,
    },
    { log: pino({ level: 'silent' }) },
  );
  const server = createServer(runtime);
  await server.listen(port, '127.0.0.1');
  const times: number[] = [];
  try {
    for (let i = 0; i < count + 3; i++) {
      const t0 = performance.now();
      const started = await action(publicUrl, 'oauthStart', { provider: 'idp', redirectTo: APP });
      const landed = await newBrowser().signIn(started.url, 'alice', APP);
      const session = await action(publicUrl, 'oauthExchangeCode', { code: landed.searchParams.get('code') });
      if (!session.accessToken) throw new Error('no session');
      // The first few warm discovery, JWKS and connection pools.
      if (i >= 3) times.push(performance.now() - t0);
    }
  } finally {
    await server.shutdown('bench done');
    await idp.close();
    await db.drop();
  }
  times.sort((a, b) => a - b);
  const out = { medianMs: percentile(times, 50), p95Ms: percentile(times, 95), n: times.length };
  say(
    `full sign-in round trip against oidc-provider (oauthStart → start URL → login + consent forms → callback → oauthExchangeCode), ${out.n} sequential sign-ins, new browser each\n` +
      `  median ${out.medianMs.toFixed(1)} ms   p95 ${out.p95Ms.toFixed(1)} ms`,
  );
  return out;
}

export async function samlSignInRoundTrip(count: number, say: (l: string) => void): Promise<{ medianMs: number; p95Ms: number; n: number }> {
  const db = await createScratchDatabase('bench_oauth_saml');
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const sp = await keyPair('bench-sp');
  const idp = await startSamlIdp(`${publicUrl}/hooks/oauth/corp/metadata`, await keyPair('bench-idp'));
  idp.accounts.set('alice', { nameId: '00u-alice', attributes: { email: 'alice@example.com', displayName: 'Alice' } });
  const runtime = await createRuntime(
    {
      DATABASE_URL: db.url,
      PLUGINS_ENABLED: 'oauth',
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      PUBLIC_URL: publicUrl,
      OAUTH_JWT_SECRET: JWT_SECRET,
      OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com/auth/',
      OAUTH_SAML_PROVIDERS: 'corp',
      OAUTH_SAML_CORP_ENTRY_POINT: idp.ssoUrl,
      OAUTH_SAML_CORP_IDP_CERT: idp.cert,
      OAUTH_SAML_CORP_SP_PRIVATE_KEY: sp.key,
      OAUTH_SAML_CORP_SP_CERT: sp.cert,
    },
    { log: pino({ level: 'silent' }) },
  );
  const server = createServer(runtime);
  await server.listen(port, '127.0.0.1');
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const times: number[] = [];
  try {
    for (let i = 0; i < count + 3; i++) {
      const t0 = performance.now();
      const started = await action(publicUrl, 'oauthStart', { provider: 'corp', redirectTo: APP });
      const browser = newBrowser();
      const sso = await browser.open(started.url);
      const login = await browser.open(new URL(sso.location!).href);
      const ticket = /name="ticket" value="([^"]+)"/.exec(login.body)?.[1];
      if (!ticket) throw new Error(`IdP login page: ${login.status} ${login.body.slice(0, 200)}`);
      const answer = await browser.open(`${new URL(idp.ssoUrl).origin}/login`, { method: 'POST', headers: form, body: new URLSearchParams({ ticket, login: 'alice' }) });
      const post = autoPostForm(answer.body);
      const acs = await browser.open(post.action, { method: 'POST', headers: form, body: new URLSearchParams(post.fields) });
      const code = new URL(acs.location!).searchParams.get('code');
      const session = await action(publicUrl, 'oauthExchangeCode', { code });
      if (!session.accessToken) throw new Error('no session');
      // The first few warm the IdP's schema validator, the metadata and connection pools.
      if (i >= 3) times.push(performance.now() - t0);
    }
  } finally {
    await server.shutdown('bench done');
    await idp.close();
    await db.drop();
  }
  times.sort((a, b) => a - b);
  const out = { medianMs: percentile(times, 50), p95Ms: percentile(times, 95), n: times.length };
  say(
    `full SAML sign-in round trip against a samlify IdP (oauthStart → start URL → signed AuthnRequest verified by the IdP → login form → signed Response posted to the ACS → oauthExchangeCode), ${out.n} sequential sign-ins, new browser each\n` +
      `  median ${out.medianMs.toFixed(1)} ms   p95 ${out.p95Ms.toFixed(1)} ms`,
  );
  return out;
}

export async function run(opts: { seconds?: number; signIns?: number; log?: (line: string) => void } = {}): Promise<{ signIn: unknown; samlSignIn: unknown; refresh: Comparison }> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 10;
  const signIn = await signInRoundTrip(opts.signIns ?? 60, say);
  const samlSignIn = await samlSignInRoundTrip(opts.signIns ?? 60, say);

  const db = await createScratchDatabase('bench_oauth_refresh');
  const env = { DATABASE_URL: db.url, PLUGINS_ENABLED: 'oauth', LOG_LEVEL: 'warn', OAUTH_JWT_SECRET: JWT_SECRET };
  const migrate = await createRuntime({ ...env, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent' });
  await migrate.close();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await pool.query(`INSERT INTO oauth."user" (id, email) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'u' || g || '@example.com' FROM generate_series(0, ${USERS - 1}) g`);
  await pool.query(
    `INSERT INTO oauth.refresh_token (family_id, user_id, token_hash, expires_at)
     SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((g % ${USERS})::text, 12, '0'))::uuid, sha256(convert_to('bench-refresh-token-' || g, 'UTF8')), now() + interval '1 day'
       FROM generate_series(0, ${TOKENS - 1}) g`,
  );
  await pool.query('ANALYZE');
  let next = 0;
  const body = () => {
    if (next >= TOKENS) throw new Error('out of refresh tokens: raise TOKENS');
    return envelope('oauthRefresh', { refreshToken: `bench-refresh-token-${next++}` });
  };

  const ours = await start('ours', env);
  const bare = await start('bare', env);
  try {
    const refresh = await compare({
      name: 'oauthRefresh vs bare node:http + one pg UPDATE + jose sign (50 connections, a fresh token per request)',
      path: '/actions/oauthRefresh',
      body,
      ours,
      bare,
      seconds,
      warmupSeconds: 2,
      goal: 0.7,
      rounds: 4,
    });
    say(report(refresh));
    return { signIn, samlSignIn, refresh };
  } finally {
    await ours.stop();
    await bare.stop();
    await pool.end();
    await db.drop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await run({ seconds: Number(process.argv[2] ?? 10) });
  process.exit(0);
}
