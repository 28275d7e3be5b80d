/**
 * Hasura's authentication of a GraphQL request, from its headers to session variables:
 * `HASURA_GRAPHQL_ADMIN_SECRET` with `x-hasura-role` / `x-hasura-*` headers, JWT per
 * `HASURA_GRAPHQL_JWT_SECRET` (verified with jose), and `HASURA_GRAPHQL_UNAUTHORIZED_ROLE`. Without an admin
 * secret every request is admin, as in Hasura (development only). Errors carry Hasura's messages and codes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, importSPKI, importX509, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type KeyObject } from 'jose';
import { HasuraError } from '../testing/errors.js';
import type { SessionVariables } from '../testing/session.js';

export interface JwtSecretConfig {
  type?: string;
  key?: string;
  jwk_url?: string;
  claims_namespace?: string;
  claims_namespace_path?: string;
  claims_map?: Record<string, unknown>;
  claims_format?: 'json' | 'stringified_json';
  audience?: string | string[];
  issuer?: string;
  allowed_skew?: number;
  header?: { type: 'Authorization' } | { type: 'Cookie'; name: string } | { type: 'CustomHeader'; name: string };
}

export interface AuthOptions {
  adminSecret?: string;
  /** `HASURA_GRAPHQL_JWT_SECRET`: the JSON text or the parsed object. */
  jwtSecret?: string | JwtSecretConfig;
  unauthorizedRole?: string;
}

const DEFAULT_NAMESPACE = 'https://hasura.io/jwt/claims';

export class AuthError extends HasuraError {}

const lower = (h: Record<string, string | string[] | undefined>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
};

function secretEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Postgres array literal for a JSON array claim (`["a","b"]` → `{"a","b"}`), as Hasura passes array session variables. */
function pgArrayLiteral(values: unknown[]): string {
  return `{${values
    .map((v) => {
      const s = typeof v === 'string' ? v : JSON.stringify(v);
      return /^[A-Za-z0-9_.:@-]+$/.test(s) && s.toUpperCase() !== 'NULL' ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    })
    .join(',')}}`;
}

function sessionValue(v: unknown): string {
  if (Array.isArray(v)) return pgArrayLiteral(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** A JSON path of the forms Hasura documents: `$.a.b`, `$.a['b.c']`, `$.a[0]`. */
export function readJsonPath(value: unknown, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`invalid JSON path ${path}`);
  const re = /\.([A-Za-z_$][\w$-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[(\d+)\]/y;
  let cur: unknown = value;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const start = re.lastIndex;
    const m = re.exec(path);
    if (!m || m.index !== start) throw new Error(`invalid JSON path ${path}`);
    const keyName = m[1] ?? m[2] ?? m[3];
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = keyName !== undefined ? (cur as Record<string, unknown>)[keyName] : (cur as unknown[])[Number(m[4])];
  }
  return cur;
}

export class Authenticator {
  private readonly jwt: JwtSecretConfig | undefined;
  private key: Promise<KeyObject | Uint8Array | JWTVerifyGetKey> | undefined;

  constructor(private readonly opts: AuthOptions) {
    if (opts.jwtSecret !== undefined) {
      try {
        this.jwt = typeof opts.jwtSecret === 'string' ? (JSON.parse(opts.jwtSecret) as JwtSecretConfig) : opts.jwtSecret;
      } catch (e) {
        throw new Error(`HASURA_GRAPHQL_JWT_SECRET is not valid JSON: ${(e as Error).message}`);
      }
      if (!this.jwt.jwk_url && !(this.jwt.type && this.jwt.key)) throw new Error('HASURA_GRAPHQL_JWT_SECRET needs "type" and "key", or "jwk_url"');
      if (this.jwt.claims_namespace && this.jwt.claims_namespace_path) throw new Error('HASURA_GRAPHQL_JWT_SECRET: give claims_namespace or claims_namespace_path, not both');
      if (this.jwt.claims_map && (this.jwt.claims_namespace || this.jwt.claims_namespace_path)) throw new Error('HASURA_GRAPHQL_JWT_SECRET: claims_map cannot be combined with a claims namespace');
    }
  }

  /** No admin secret and no JWT: every request is admin (Hasura's behaviour; development only). */
  get open(): boolean {
    return this.opts.adminSecret === undefined && this.jwt === undefined;
  }

  get mode(): 'open' | 'admin-secret' | 'jwt' {
    return this.jwt ? 'jwt' : this.opts.adminSecret !== undefined ? 'admin-secret' : 'open';
  }

  private verificationKey(): Promise<KeyObject | Uint8Array | JWTVerifyGetKey> {
    this.key ??= (async () => {
      const j = this.jwt!;
      if (j.jwk_url) return createRemoteJWKSet(new URL(j.jwk_url));
      const type = j.type!;
      if (type.startsWith('HS')) return new TextEncoder().encode(j.key!);
      const key = j.key!.replace(/\\n/g, '\n');
      return key.includes('BEGIN CERTIFICATE') ? importX509(key, type) : importSPKI(key, type);
    })();
    return this.key;
  }

  /** The session, and when a JWT authenticated it, the token's expiry (websockets close then, as in Hasura). */
  async authenticateWithExpiry(rawHeaders: Record<string, string | string[] | undefined>): Promise<{ session: SessionVariables; expiresAt?: Date }> {
    const box: { exp?: number } = {};
    const session = await this.authenticate(rawHeaders, box);
    return box.exp !== undefined ? { session, expiresAt: new Date(box.exp * 1000) } : { session };
  }

  /** The session for a request with these headers (HTTP headers, or `connection_init`'s for websockets). */
  async authenticate(rawHeaders: Record<string, string | string[] | undefined>, expiry?: { exp?: number }): Promise<SessionVariables> {
    const headers = lower(rawHeaders);
    const fromHeaders = (): SessionVariables => {
      const s: SessionVariables = {};
      for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-hasura-') && k !== 'x-hasura-admin-secret' && k !== 'x-hasura-access-key') s[k] = v;
      s['x-hasura-role'] = headers['x-hasura-role'] ?? 'admin';
      return s;
    };
    if (this.open) return fromHeaders();
    const given = headers['x-hasura-admin-secret'] ?? headers['x-hasura-access-key'];
    if (given !== undefined && this.opts.adminSecret !== undefined) {
      if (!secretEquals(given, this.opts.adminSecret)) throw new AuthError('invalid x-hasura-admin-secret/x-hasura-access-key', 'access-denied');
      return fromHeaders();
    }
    if (this.jwt) {
      const token = this.token(headers);
      if (token === undefined) {
        if (this.opts.unauthorizedRole) return { 'x-hasura-role': this.opts.unauthorizedRole };
        throw new AuthError("Missing 'Authorization' or 'Cookie' header in JWT authentication mode", 'invalid-headers');
      }
      return this.fromJwt(token, headers['x-hasura-role'], expiry);
    }
    if (given !== undefined) throw new AuthError('invalid x-hasura-admin-secret/x-hasura-access-key', 'access-denied');
    if (this.opts.unauthorizedRole) return { 'x-hasura-role': this.opts.unauthorizedRole };
    throw new AuthError('x-hasura-admin-secret/x-hasura-access-key required, but not found', 'access-denied');
  }

  private token(headers: Record<string, string>): string | undefined {
    const h = this.jwt!.header;
    if (h?.type === 'CustomHeader') return headers[h.name.toLowerCase()];
    if (h?.type === 'Cookie') {
      const cookie = headers.cookie;
      if (!cookie) return undefined;
      for (const part of cookie.split(';')) {
        const [k, ...v] = part.trim().split('=');
        if (k === h.name) return decodeURIComponent(v.join('='));
      }
      return undefined;
    }
    const auth = headers.authorization;
    if (auth === undefined) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (!m) throw new AuthError('Malformed Authorization header', 'invalid-headers');
    return m[1]!.trim();
  }

  private async fromJwt(token: string, requestedRole: string | undefined, expiry?: { exp?: number }): Promise<SessionVariables> {
    const j = this.jwt!;
    let payload: JWTPayload;
    try {
      const key = await this.verificationKey();
      const verifyOpts = {
        ...(j.audience !== undefined ? { audience: j.audience } : {}),
        ...(j.issuer !== undefined ? { issuer: j.issuer } : {}),
        clockTolerance: j.allowed_skew ?? 0,
        ...(j.type ? { algorithms: [j.type] } : {}),
      };
      payload = (typeof key === 'function' ? await jwtVerify(token, key, verifyOpts) : await jwtVerify(token, key, verifyOpts)).payload;
    } catch (e) {
      throw new AuthError(`Could not verify JWT: ${joseReason(e)}`, 'invalid-jwt');
    }
    if (expiry && typeof payload.exp === 'number') expiry.exp = payload.exp;
    const claims = this.claims(payload);
    const allowed = claims['x-hasura-allowed-roles'];
    const defaultRole = claims['x-hasura-default-role'];
    if (!Array.isArray(allowed) || !allowed.every((r) => typeof r === 'string')) throw new AuthError('JWT claim does not contain x-hasura-allowed-roles', 'jwt-missing-role-claims');
    if (typeof defaultRole !== 'string') throw new AuthError('JWT claim does not contain x-hasura-default-role', 'jwt-missing-role-claims');
    const role = requestedRole ?? defaultRole;
    if (!allowed.includes(role) && !(requestedRole === undefined)) throw new AuthError('Your requested role is not in allowed roles', 'access-denied');
    if (!allowed.includes(role)) throw new AuthError('Your current role is not in allowed roles', 'access-denied');
    const session: SessionVariables = {};
    for (const [k, v] of Object.entries(claims)) {
      const name = k.toLowerCase();
      if (!name.startsWith('x-hasura-') || name === 'x-hasura-allowed-roles' || name === 'x-hasura-default-role' || v === undefined || v === null) continue;
      session[name] = sessionValue(v);
    }
    session['x-hasura-role'] = role;
    return session;
  }

  /** The Hasura claims object: a namespace (or namespace path) of the token, or `claims_map`. */
  private claims(payload: JWTPayload): Record<string, unknown> {
    const j = this.jwt!;
    if (j.claims_map) {
      const out: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(j.claims_map)) {
        if (spec && typeof spec === 'object' && !Array.isArray(spec) && 'path' in spec) {
          const s = spec as { path: string; default?: unknown };
          let v: unknown;
          try {
            v = readJsonPath(payload, s.path);
          } catch {
            v = undefined;
          }
          if (v === undefined) v = s.default;
          if (v === undefined) throw new AuthError(`JWT claim from claims_map, ${name} not found`, 'jwt-invalid-claims');
          out[name.toLowerCase()] = v;
        } else out[name.toLowerCase()] = spec;
      }
      return out;
    }
    let raw: unknown;
    let where: string;
    if (j.claims_namespace_path) {
      where = j.claims_namespace_path;
      raw = j.claims_namespace_path === '$' ? payload : readJsonPath(payload, j.claims_namespace_path);
    } else {
      where = j.claims_namespace ?? DEFAULT_NAMESPACE;
      raw = (payload as Record<string, unknown>)[where];
    }
    if (raw === undefined) throw new AuthError(`claims key: '${where}' not found`, 'jwt-invalid-claims');
    if (j.claims_format === 'stringified_json') {
      if (typeof raw !== 'string') throw new AuthError(`expecting stringified json at: '${where}'`, 'jwt-invalid-claims');
      try {
        raw = JSON.parse(raw);
      } catch {
        throw new AuthError(`invalid stringified json at: '${where}'`, 'jwt-invalid-claims');
      }
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new AuthError(`claims at '${where}' must be an object`, 'jwt-invalid-claims');
    return Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]));
  }
}

/** jose's failure in the words Hasura's JWT library uses. */
function joseReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  const claim = (e as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'JWTExpired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'JWSError JWSInvalidSignature';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return 'JWTNotInAudience';
      if (claim === 'iss') return 'JWTNotInIssuer';
      if (claim === 'nbf') return 'JWTNotYetValid';
      return `JWTClaimsSetDecodeError "${(e as Error).message}"`;
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return `JWSError (CompactDecodeError ${(e as Error).message})`;
    default:
      return `JWSError (${(e as Error).message})`;
  }
}
