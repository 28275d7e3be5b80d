/**
 * The browser's part of a sign-in: oauthStart stores a flow (state, PKCE verifier, nonce, where to return);
 * the start URL binds it to the browser that opens it with a cookie and sends that browser to the provider;
 * the callback accepts the result once, from that browser only, verifies it, and hands the app a one-time code.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type * as client from 'openid-client';
import { openidClient } from './openid.js';
import type { Db, Queryable } from '../../../core/plugin.js';
import type { OAuthConfig } from '../config.js';
import { CallbackError } from './errors.js';
import type { Profile } from './profile.js';
import type { OAuthProvider } from './providers.js';
import { withParams } from './redirect.js';
import { samlRequestId } from './saml.js';
import type { OAuthCore } from './service.js';
import { randomToken, sha256 } from './tokens.js';

export const callbackUrl = (publicUrl: string, provider: string) => `${publicUrl}/hooks/oauth/${provider}/callback`;
const COOKIE_PATH = '/hooks/oauth';
const cookieName = (stateHash: Buffer) => `oauth_${stateHash.subarray(0, 8).toString('hex')}`;

export async function startFlow(db: Queryable, cfg: OAuthConfig, publicUrl: string, provider: string, redirectTo: string, linkUserId: string | null) {
  const client = await openidClient();
  const state = randomToken();
  const r = await db.query<{ expires_at: Date }>(
    `INSERT INTO oauth.flow (state_hash, provider, redirect_to, code_verifier, nonce, link_user_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) RETURNING expires_at`,
    [sha256(state), provider, redirectTo, client.randomPKCECodeVerifier(), client.randomNonce(), linkUserId, cfg.OAUTH_STATE_TTL_SECONDS],
  );
  return { url: `${publicUrl}/hooks/oauth/${encodeURIComponent(provider)}/start?state=${state}`, expiresAt: r.rows[0]!.expires_at.toISOString() };
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const param = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 4096 ? v : undefined);

export function clientIp(req: Request, trustProxy: boolean): string | null {
  if (trustProxy) {
    const fwd = req.headers['x-forwarded-for'];
    const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
    if (first) return first.slice(0, 64);
  }
  return req.socket.remoteAddress ?? null;
}

const userAgent = (req: Request) => (req.headers['user-agent'] ?? '').slice(0, 512) || null;

export async function audit(db: Queryable, row: { userId: string | null; provider: string; outcome: 'success' | 'failure' | 'linked'; reason?: string | null; ip: string | null; userAgent: string | null }) {
  await db.query('INSERT INTO oauth.sign_in (user_id, provider, outcome, reason, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)', [
    row.userId,
    row.provider,
    row.outcome,
    row.reason ?? null,
    row.ip,
    row.userAgent,
  ]);
}

function fail(res: Response, err: CallbackError): void {
  res.status(err.status).type('application/json').send(JSON.stringify({ error: err.code, message: err.message }));
}

/** GET /hooks/oauth/:provider/start?state=… : binds the flow to this browser and redirects to the provider. */
export async function handleStart(req: Request, res: Response, db: Db, core: OAuthCore, cfg: OAuthConfig, publicUrl: string): Promise<void> {
  const provider = core.providers.get(String(req.params.provider));
  const state = param(req.query.state);
  if (!provider || !state) return fail(res, new CallbackError('oauth/invalid-request', 'unknown provider or missing state'));
  const stateHash = sha256(state);
  const browser = randomToken();
  // Single use: only the first browser to open the start URL owns the flow.
  const r = await db.query<{ code_verifier: string; nonce: string; expires_at: Date }>(
    `UPDATE oauth.flow SET browser_hash = $2, bound_at = now()
      WHERE state_hash = $1 AND provider = $3 AND bound_at IS NULL AND expires_at > now()
      RETURNING code_verifier, nonce, expires_at`,
    [stateHash, sha256(browser), provider.id],
  );
  const flow = r.rows[0];
  if (!flow) return fail(res, new CallbackError('oauth/state-invalid', 'this sign-in link is unknown, expired or already opened'));
  let location: string;
  if (provider.kind === 'saml') {
    location = await provider.authorizeUrl(samlRequestId(flow.nonce), state);
  } else {
    const url = await authorizationUrl(provider, publicUrl, state, flow);
    if (!url) return fail(res, new CallbackError('oauth/provider-unavailable', 'the provider could not be reached', 502));
    location = url;
  }
  const https = publicUrl.startsWith('https:');
  // A provider that posts its answer back (Apple, SAML IdPs) comes cross-site: only a SameSite=None (Secure) cookie
  // travels with that POST. Everything else returns with a top-level GET, where Lax is enough.
  const sameSite = provider.formPost && https ? 'None' : 'Lax';
  const maxAge = Math.max(1, Math.ceil((flow.expires_at.getTime() - Date.now()) / 1000));
  res.setHeader('Set-Cookie', `${cookieName(stateHash)}=${browser}; Path=${COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=${sameSite}${https ? '; Secure' : ''}`);
  res.setHeader('Cache-Control', 'no-store');
  res.redirect(302, location);
}

async function authorizationUrl(provider: OAuthProvider, publicUrl: string, state: string, flow: { code_verifier: string; nonce: string }): Promise<string | undefined> {
  const client = await openidClient();
  let config: client.Configuration;
  try {
    config = await provider.configuration();
  } catch {
    return undefined;
  }
  const params: Record<string, string> = {
    redirect_uri: callbackUrl(publicUrl, provider.id),
    scope: provider.scope,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(flow.code_verifier),
    code_challenge_method: 'S256',
  };
  if (provider.kind === 'oidc') params.nonce = flow.nonce;
  if (provider.formPost) params.response_mode = 'form_post';
  return client.buildAuthorizationUrl(config, params).href;
}

interface FlowRow {
  provider: string;
  redirect_to: string;
  code_verifier: string;
  nonce: string;
  link_user_id: string | null;
  browser_hash: Buffer | null;
  created_at: Date;
  live: boolean;
}

/** A SAMLResponse is a few kilobytes of base64; the form parser caps the whole body at 64 kB. */
const MAX_SAML_RESPONSE = 60_000;

/** GET or POST /hooks/oauth/:provider/callback */
export async function handleCallback(req: Request, res: Response, db: Db, core: OAuthCore, cfg: OAuthConfig, publicUrl: string): Promise<void> {
  const provider = core.providers.get(String(req.params.provider));
  const form: Record<string, string> = {};
  if (req.method === 'POST' && req.body && typeof req.body === 'object') {
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) if (typeof v === 'string') form[k] = v;
  }
  if (!provider) return fail(res, new CallbackError('oauth/unknown-provider', 'this provider is not enabled', 404));
  // SAML carries the state as RelayState, and only in the IdP's POST.
  const state = param(provider.kind === 'saml' ? form.RelayState : (form.state ?? req.query.state));
  if (provider.kind === 'saml' && req.method !== 'POST') return fail(res, new CallbackError('oauth/invalid-request', 'a SAML identity provider answers with POST'));
  if (!state) return fail(res, new CallbackError('oauth/state-invalid', 'the callback has no state'));
  if (req.method === 'POST' && !provider.formPost) return fail(res, new CallbackError('oauth/invalid-request', 'this provider answers with GET'));
  const ip = clientIp(req, cfg.OAUTH_TRUST_PROXY_HEADERS);
  const ua = userAgent(req);
  const stateHash = sha256(state);

  // Used now, whatever happens next: a state never works twice.
  const r = await db.query<FlowRow>(
    `UPDATE oauth.flow SET used_at = now() WHERE state_hash = $1 AND used_at IS NULL AND bound_at IS NOT NULL
     RETURNING provider, redirect_to, code_verifier, nonce, link_user_id::text, browser_hash, created_at, expires_at > now() AS live`,
    [stateHash],
  );
  const flow = r.rows[0];
  const reject = async (err: CallbackError, userId: string | null = flow?.link_user_id ?? null) => {
    await audit(db, { userId, provider: provider.id, outcome: 'failure', reason: err.code, ip, userAgent: ua });
    if (flow && flow.provider === provider.id) {
      res.setHeader('Cache-Control', 'no-store');
      return res.redirect(302, withParams(flow.redirect_to, { error: err.code }));
    }
    return fail(res, err);
  };
  if (!flow) return reject(new CallbackError('oauth/state-invalid', 'this sign-in is unknown or was already completed'), null);
  if (flow.provider !== provider.id) return reject(new CallbackError('oauth/state-invalid', 'this state belongs to another provider'));
  const browser = readCookie(req, cookieName(stateHash));
  if (!browser || !flow.browser_hash || !timingSafeEqual(sha256(browser), flow.browser_hash)) {
    return reject(new CallbackError('oauth/other-browser', 'this sign-in was started in another browser'));
  }
  if (!flow.live) return reject(new CallbackError('oauth/state-expired', 'this sign-in took too long: start again'));
  res.append('Set-Cookie', `${cookieName(stateHash)}=; Path=${COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax`);
  let profile: Profile;
  if (provider.kind === 'saml') {
    const samlResponse = form.SAMLResponse;
    if (!samlResponse || samlResponse.length > MAX_SAML_RESPONSE) return reject(new CallbackError('oauth/provider-rejected', 'the callback has no SAMLResponse, or an oversize one'));
    try {
      profile = await provider.verify(samlResponse, samlRequestId(flow.nonce), flow.created_at);
    } catch (e) {
      return reject(e instanceof CallbackError ? e : new CallbackError('oauth/provider-rejected', 'the SAML response could not be verified'));
    }
  } else {
    const providerError = param(form.error ?? req.query.error);
    if (providerError) return reject(new CallbackError('oauth/provider-denied', `the provider answered ${providerError.slice(0, 100)}`));
    const url = new URL(callbackUrl(publicUrl, provider.id));
    const query = req.method === 'POST' ? form : (req.query as Record<string, unknown>);
    for (const k of ['code', 'state', 'iss', 'error']) {
      const v = param(query[k]);
      if (v) url.searchParams.set(k, v);
    }
    try {
      const config = await provider.configuration();
      const client = await openidClient();
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: flow.code_verifier,
        expectedState: state,
        ...(provider.kind === 'oidc' ? { expectedNonce: flow.nonce, idTokenExpected: true } : {}),
      });
      profile = await provider.profile(tokens, { url, form }, config);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return reject(new CallbackError('oauth/provider-rejected', `the sign-in could not be verified: ${(err.code ?? err.message ?? 'error').toString().slice(0, 200)}`));
    }
  }
  const code = randomToken();
  await db.query(
    `INSERT INTO oauth.login_code (code_hash, provider, profile, link_user_id, ip, user_agent, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
    [sha256(code), provider.id, JSON.stringify(profile), flow.link_user_id, ip, ua, cfg.OAUTH_CODE_TTL_SECONDS],
  );
  res.setHeader('Cache-Control', 'no-store');
  res.redirect(302, withParams(flow.redirect_to, { code }));
}
