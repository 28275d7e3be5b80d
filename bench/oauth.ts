/**
 * The oauth plugin's measured paths:
 *   - a full sign-in round trip against a real OpenID Provider (oidc-provider on localhost): oauthStart, the
 *     start URL, the provider's login and consent forms, the callback (code + PKCE exchange, id_token
 *     verification), oauthExchangeCode — median and p95 over sequential sign-ins, each in a new browser;
 *   - oauthRefresh requests/s through the real handler server vs a bare node:http server doing one pg UPDATE
 *     and one jose sign per request, same run (goal ≥ 0.70×). Every request presents a fresh refresh token.
 *
 *   npx tsx bench/oauth.ts [seconds]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { createScratchDatabase } from '../test/support/db.js';
import { freePort, newBrowser, startIdp } from '../src/plugins/oauth/__tests__/support/idp.js';
import { compare, report, SECRET, type Comparison, type ServerHandle } from './roundtrip-lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const JWT_SECRET = JSON.stringify({ type: 'HS256', key: 'bench-hmac-key-0123456789-abcdefghijklmnop' });
const APP = 'https://app.example.com/auth/done';
const TOKENS = 400_000;
const USERS = 1000;

function start(mode: string, env: Record<string, string>): Promise<ServerHandle> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'oauth-servers.ts'), mode], {
    env: { ...process.env, ...env, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+)/.exec(buf);
      if (!m) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve({
        url: `http://127.0.0.1:${m[1]}`,
        pid: child.pid!,
        stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
      });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code} before it was ready`)));
  });
}

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

export async function run(opts: { seconds?: number; signIns?: number; log?: (line: string) => void } = {}): Promise<{ signIn: unknown; refresh: Comparison }> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 10;
  const signIn = await signInRoundTrip(opts.signIns ?? 60, say);

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
    return { signIn, refresh };
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
