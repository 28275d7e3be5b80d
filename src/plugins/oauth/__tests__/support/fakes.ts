/**
 * Strict fakes of the providers that cannot run here (GitHub, Apple, Microsoft) and of a misbehaving OpenID
 * provider. Each checks requests the way the real service does (PKCE S256, exact redirect_uri, client
 * authentication, Apple's ES256 client secret, GitHub's User-Agent rule) and reproduces its quirks: GitHub's
 * 200-with-error token responses and separate verified-emails API, Apple's form_post with the name only on the
 * first authorization and string booleans, Microsoft's tenant-templated issuer and unverified email claim.
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, jwtVerify, SignJWT, type JWK } from 'jose';

export type IdTokenMode = 'good' | 'unknown-key' | 'alg-none' | 'expired' | 'wrong-audience' | 'wrong-issuer';

interface Pending {
  challenge: string;
  redirectUri: string;
  nonce: string | null;
  login: string;
  scope: string;
}

export interface FakeAccount {
  id: string;
  claims?: Record<string, unknown>;
}

export interface Fake {
  base: string;
  clientId: string;
  clientSecret: string;
  /** Who the next authorization signs in as. */
  login: FakeAccount;
  idTokenMode: IdTokenMode;
  /** Requests the fake refused, with the reason (a test asserts none were refused by mistake). */
  refused: string[];
  close(): Promise<void>;
}

const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');

async function body(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(json));
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

interface FakeOptions {
  kind: 'github' | 'discord' | 'apple' | 'microsoft' | 'oidc';
  /** Apple: the public key the client secret must verify with; team and key ids. */
  apple?: { publicKey: KeyObject; teamId: string; keyId: string };
  /** Microsoft: the tenant of the signed-in account. */
  tid?: string;
}

export async function startFake(opts: FakeOptions): Promise<Fake> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk: JWK = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const pending = new Map<string, Pending>();
  const tokens = new Map<string, FakeAccount>();
  const appleNamed = new Set<string>();
  const fake: Fake = {
    base,
    clientId: `${opts.kind}-client`,
    clientSecret: `${opts.kind}-secret-0123456789`,
    login: { id: 'u1' },
    idTokenMode: 'good',
    refused: [],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const refuse = (res: ServerResponse, status: number, error: string, why: string) => {
    fake.refused.push(why);
    send(res, status, { error, error_description: why });
  };
  const tenantPath = opts.kind === 'microsoft' ? '/common/v2.0' : '';
  const issuerTemplate = opts.kind === 'microsoft' ? `${base}/{tenantid}/v2.0` : base;
  const issuerOf = () => (opts.kind === 'microsoft' ? `${base}/${opts.tid}/v2.0` : base);
  const plainOAuth = opts.kind === 'github' || opts.kind === 'discord';
  const paths = opts.kind === 'github'
    ? { authorize: '/login/oauth/authorize', token: '/login/oauth/access_token' }
    : opts.kind === 'discord'
      ? { authorize: '/oauth2/authorize', token: '/api/oauth2/token' }
      : { authorize: `${tenantPath}/authorize`, token: `${tenantPath}/token` };

  async function idToken(account: FakeAccount, nonce: string | null): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { ...(account.claims ?? {}) };
    if (nonce) claims.nonce = nonce;
    if (opts.kind === 'microsoft') Object.assign(claims, { tid: opts.tid, oid: `oid-${account.id}` });
    const mode = fake.idTokenMode;
    if (mode === 'alg-none') {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...claims, iss: issuerOf(), aud: fake.clientId, sub: account.id, iat: now, exp: now + 600 })}.`;
    }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(mode === 'wrong-issuer' ? 'https://evil.example' : issuerOf())
      .setAudience(mode === 'wrong-audience' ? 'someone-else' : fake.clientId)
      .setSubject(account.id)
      .setIssuedAt(mode === 'expired' ? now - 7200 : now)
      .setExpirationTime(mode === 'expired' ? now - 3600 : now + 600)
      .sign(mode === 'unknown-key' ? stranger.privateKey : signing.privateKey);
  }

  async function checkClient(form: URLSearchParams): Promise<string | null> {
    if (form.get('client_id') !== fake.clientId) return 'client_id';
    if (opts.kind !== 'apple') return form.get('client_secret') === fake.clientSecret ? null : 'client_secret';
    // Apple: the secret is an ES256 JWT signed with the developer's key: iss team, sub client id, aud Apple.
    try {
      const { payload, protectedHeader } = await jwtVerify(form.get('client_secret') ?? '', opts.apple!.publicKey, { issuer: opts.apple!.teamId, audience: base, subject: fake.clientId, algorithms: ['ES256'] });
      if (protectedHeader.kid !== opts.apple!.keyId) return 'client secret kid';
      if (!payload.exp || payload.exp - Math.floor(Date.now() / 1000) > 15_777_000) return 'client secret lifetime over six months';
      return null;
    } catch (e) {
      return `client secret: ${(e as Error).message}`;
    }
  }

  server.on('request', async (req, res) => {
    const url = new URL(req.url!, base);
    try {
      if (url.pathname === `${tenantPath}/.well-known/openid-configuration`) {
        if (plainOAuth) return send(res, 404, {});
        return send(res, 200, {
          issuer: issuerTemplate,
          authorization_endpoint: `${base}${paths.authorize}`,
          token_endpoint: `${base}${paths.token}`,
          jwks_uri: `${base}/keys`,
          response_types_supported: ['code'],
          response_modes_supported: opts.kind === 'apple' ? ['query', 'fragment', 'form_post'] : ['query', 'form_post'],
          subject_types_supported: ['public', 'pairwise'],
          id_token_signing_alg_values_supported: ['ES256'],
          token_endpoint_auth_methods_supported: ['client_secret_post'],
          code_challenge_methods_supported: ['S256'],
        });
      }
      if (url.pathname === '/keys') return send(res, 200, { keys: [jwk] });
      if (url.pathname === paths.authorize && req.method === 'GET') {
        const q = url.searchParams;
        if (q.get('client_id') !== fake.clientId) return refuse(res, 400, 'invalid_client', 'authorize: client_id');
        if (q.get('response_type') !== 'code') return refuse(res, 400, 'unsupported_response_type', 'authorize: response_type');
        if (q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? '')) return refuse(res, 400, 'invalid_request', 'authorize: PKCE S256');
        if (!q.get('state')) return refuse(res, 400, 'invalid_request', 'authorize: state');
        const redirectUri = q.get('redirect_uri') ?? '';
        if (!redirectUri.startsWith('http://127.0.0.1:') || !redirectUri.endsWith(`/hooks/oauth/${opts.kind === 'oidc' ? 'rogue' : opts.kind}/callback`)) return refuse(res, 400, 'invalid_request', 'authorize: redirect_uri');
        const scope = q.get('scope') ?? '';
        const oidc = !plainOAuth;
        if (oidc && (!scope.split(' ').includes('openid') || !q.get('nonce'))) return refuse(res, 400, 'invalid_request', 'authorize: openid scope and nonce');
        // Apple requires form_post whenever name or email is asked for.
        if (opts.kind === 'apple' && /\b(name|email)\b/.test(scope) && q.get('response_mode') !== 'form_post') return refuse(res, 400, 'invalid_request', 'authorize: form_post');
        const code = randomBytes(16).toString('hex');
        pending.set(code, { challenge: q.get('code_challenge')!, redirectUri, nonce: q.get('nonce'), login: fake.login.id, scope });
        tokens.set(`acct:${fake.login.id}`, fake.login);
        tokens.set(`scope:${fake.login.id}`, scope as never);
        if (opts.kind === 'apple') {
          const fields: Record<string, string> = { code, state: q.get('state')! };
          if (!appleNamed.has(fake.login.id)) {
            appleNamed.add(fake.login.id);
            fields.user = JSON.stringify({ name: { firstName: 'Ada', lastName: 'Lovelace' }, email: fake.login.claims?.email });
          }
          res.writeHead(200, { 'content-type': 'text/html' });
          const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}"/>`).join('');
          return res.end(`<html><body onload="document.forms[0].submit()"><form action="${escape(redirectUri)}" method="post">${inputs}</form></body></html>`);
        }
        const back = new URL(redirectUri);
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state')!);
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (url.pathname === paths.token && req.method === 'POST') {
        const form = await body(req);
        const bad = await checkClient(form);
        if (bad) return refuse(res, 401, 'invalid_client', `token: ${bad}`);
        const p = pending.get(form.get('code') ?? '');
        pending.delete(form.get('code') ?? '');
        const grantError = !p
          ? 'code'
          : form.get('grant_type') !== 'authorization_code'
            ? 'grant_type'
            : form.get('redirect_uri') !== p.redirectUri
              ? 'redirect_uri'
              : s256(form.get('code_verifier') ?? '') !== p.challenge
                ? 'code_verifier'
                : null;
        if (grantError) {
          fake.refused.push(`token: ${grantError}`);
          // GitHub answers a bad code with 200 and an error body.
          if (opts.kind === 'github') return send(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
          return send(res, 400, { error: 'invalid_grant', error_description: grantError });
        }
        const account = tokens.get(`acct:${p!.login}`)!;
        const accessToken = randomBytes(16).toString('hex');
        tokens.set(accessToken, account);
        if (opts.kind === 'github') {
          // Without Accept: application/json GitHub answers form-encoded.
          if (!(req.headers.accept ?? '').includes('application/json')) {
            res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' });
            return res.end(`access_token=${accessToken}&scope=read%3Auser&token_type=bearer`);
          }
          return send(res, 200, { access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
        }
        if (opts.kind === 'discord') return send(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 604800, refresh_token: 'r', scope: p!.scope });
        return send(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, id_token: await idToken(account, p!.nonce) });
      }
      if (opts.kind === 'github' && url.pathname.startsWith('/api/')) {
        if (!req.headers['user-agent']) return refuse(res, 403, 'forbidden', 'api: User-Agent required');
        const account = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!account) return refuse(res, 401, 'unauthorized', 'api: bad token');
        const c = account.claims ?? {};
        if (url.pathname === '/api/user') return send(res, 200, { id: Number(account.id), login: c.login, name: c.name ?? null, email: null, avatar_url: c.avatar_url });
        if (url.pathname === '/api/user/emails') return send(res, 200, c.emails ?? []);
      }
      if (opts.kind === 'discord' && url.pathname === '/api/users/@me') {
        const account = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!account) return refuse(res, 401, 'unauthorized', 'api: bad token');
        if (!(tokens.get(`scope:${account.id}`) as unknown as string | undefined)?.includes('email')) {
          // Without the email scope Discord leaves email out.
          return send(res, 200, { id: account.id, username: account.claims?.username, global_name: account.claims?.global_name ?? null, avatar: account.claims?.avatar ?? null, locale: 'en-US' });
        }
        const c = account.claims ?? {};
        return send(res, 200, { id: account.id, username: c.username, global_name: c.global_name ?? null, avatar: c.avatar ?? null, email: c.email, verified: c.verified, locale: 'en-US' });
      }
      send(res, 404, { error: 'not_found' });
    } catch (e) {
      send(res, 500, { error: (e as Error).message });
    }
  });
  return fake;
}

/** An Apple developer key (the .p8 file): PKCS#8 PEM and its public half. */
export function appleKey(): { pem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

