/**
 * Session signing keys in HASURA_GRAPHQL_JWT_SECRET's format, so the operator gives Hasura the same value
 * (HS*) or the JWKS URL (RS256, ES256). Previous keys stay in the JWKS while tokens they signed live out.
 */
import { createHash, createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { exportJWK, type JWK } from 'jose';

const HMAC = ['HS256', 'HS384', 'HS512'] as const;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'] as const;
type Alg = (typeof HMAC)[number] | (typeof ASYMMETRIC)[number];

export interface SessionKeys {
  alg: Alg;
  kid: string | undefined;
  signingKey: KeyObject;
  /** Public keys (current first), for /hooks/oauth/jwks.json. Empty for HMAC. */
  jwks: { keys: JWK[] };
  claimsNamespace: string;
  claimsFormat: 'json' | 'stringified_json';
  issuer: string | undefined;
  audience: string | string[] | undefined;
}

export class KeyConfigError extends Error {}

interface SecretJson {
  type?: unknown;
  key?: unknown;
  kid?: unknown;
  claims_namespace?: unknown;
  claims_format?: unknown;
  issuer?: unknown;
  audience?: unknown;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KeyConfigError(`${what} is not JSON`);
  }
}

/** PEM from env files often arrives with literal `\n`. */
const pem = (key: string) => key.replace(/\\n/g, '\n');

async function publicJwk(key: KeyObject, alg: string, kid: string | undefined): Promise<JWK> {
  const jwk = await exportJWK(key.type === 'public' ? key : createPublicKey(key));
  return { ...jwk, alg, use: 'sig', kid: kid ?? thumbprintKid(jwk) };
}

function thumbprintKid(jwk: JWK): string {
  // A stable kid derived from the key (RFC 7638 member order), so Hasura picks the right key from the JWKS.
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

export async function loadSessionKeys(secretText: string, previousText: string | undefined): Promise<SessionKeys> {
  const s = parseJson(secretText, 'OAUTH_JWT_SECRET') as SecretJson;
  if (!s || typeof s !== 'object') throw new KeyConfigError('OAUTH_JWT_SECRET must be a JSON object {type, key}');
  const alg = s.type as Alg;
  if (typeof s.key !== 'string') throw new KeyConfigError('OAUTH_JWT_SECRET.key must be a string');
  const kid = typeof s.kid === 'string' ? s.kid : undefined;
  const claimsFormat = s.claims_format === 'stringified_json' ? 'stringified_json' : 'json';
  const common = {
    claimsNamespace: typeof s.claims_namespace === 'string' ? s.claims_namespace : 'https://hasura.io/jwt/claims',
    claimsFormat,
    issuer: typeof s.issuer === 'string' ? s.issuer : undefined,
    audience: typeof s.audience === 'string' || Array.isArray(s.audience) ? (s.audience as string | string[]) : undefined,
  } as const;
  if ((HMAC as readonly string[]).includes(alg)) {
    // Hasura refuses HMAC keys shorter than 32 characters.
    if (s.key.length < 32) throw new KeyConfigError('OAUTH_JWT_SECRET.key must be at least 32 characters for HS*');
    return { alg, kid, signingKey: createSecretKey(Buffer.from(s.key, 'utf8')), jwks: { keys: [] }, ...common };
  }
  if (!(ASYMMETRIC as readonly string[]).includes(alg)) throw new KeyConfigError(`OAUTH_JWT_SECRET.type must be one of ${[...HMAC, ...ASYMMETRIC].join(', ')}`);
  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(pem(s.key));
  } catch {
    throw new KeyConfigError('OAUTH_JWT_SECRET.key must be a PKCS#8 (or PKCS#1/SEC1) private key PEM for RS256/ES256');
  }
  const current = await publicJwk(signingKey, alg, kid);
  const keys = [current];
  if (previousText) {
    const prev = parseJson(previousText, 'OAUTH_JWT_PREVIOUS_KEYS');
    if (!Array.isArray(prev)) throw new KeyConfigError('OAUTH_JWT_PREVIOUS_KEYS must be a JSON array of {type, key, kid}');
    for (const p of prev as SecretJson[]) {
      if (typeof p?.key !== 'string' || typeof p.type !== 'string') throw new KeyConfigError('each OAUTH_JWT_PREVIOUS_KEYS entry needs type and key');
      let k: KeyObject;
      try {
        k = createPublicKey(pem(p.key));
      } catch {
        throw new KeyConfigError('an OAUTH_JWT_PREVIOUS_KEYS key is not a PEM key');
      }
      const jwk = await publicJwk(k, p.type, typeof p.kid === 'string' ? p.kid : undefined);
      if (!keys.some((x) => x.kid === jwk.kid)) keys.push(jwk);
    }
  }
  return { alg, kid: current.kid, signingKey, jwks: { keys }, ...common };
}
