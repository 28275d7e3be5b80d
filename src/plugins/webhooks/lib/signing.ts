/**
 * Standard Webhooks signatures. Symmetric `v1` (HMAC-SHA256 over `id.timestamp.body`, key `whsec_<base64>`) is
 * made by the `standardwebhooks` library, the same code consumers verify with. Asymmetric `v1a` (ed25519 over
 * the same content, keys `whsk_` / `whpk_`) is not in that library, so it is node:crypto's ed25519.
 *
 * During a rotation every live secret signs: `webhook-signature` carries all signatures space-separated, and a
 * consumer holding either the old or the new secret verifies.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export type Scheme = 'v1' | 'v1a';

export interface EndpointSecret {
  scheme: Scheme;
  /** `whsec_…` (v1) or `whsk_…` (v1a, the 32-byte ed25519 seed). */
  secret: string;
  /** `whpk_…` for v1a: what the consumer verifies with. */
  publicKey: string | null;
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function newSecret(scheme: Scheme): EndpointSecret {
  if (scheme === 'v1') return { scheme, secret: `whsec_${randomBytes(32).toString('base64')}`, publicKey: null };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(ED25519_PKCS8_PREFIX.length);
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { scheme, secret: `whsk_${seed.toString('base64')}`, publicKey: `whpk_${raw.toString('base64')}` };
}

const hmacSigners = new Map<string, Webhook>();
const edKeys = new Map<string, ReturnType<typeof createPrivateKey>>();

function hmacSigner(secret: string): Webhook {
  let w = hmacSigners.get(secret);
  if (!w) {
    if (hmacSigners.size > 10_000) hmacSigners.clear();
    w = new Webhook(secret);
    hmacSigners.set(secret, w);
  }
  return w;
}

function edKey(secret: string) {
  let k = edKeys.get(secret);
  if (!k) {
    if (edKeys.size > 10_000) edKeys.clear();
    const seed = Buffer.from(secret.slice('whsk_'.length), 'base64');
    if (seed.length !== 32) throw new Error('an ed25519 webhook secret must hold a 32-byte seed');
    k = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    edKeys.set(secret, k);
  }
  return k;
}

/** One `version,base64` signature of `body` as sent under `msgId` at `timestamp`. */
export function signOne(s: Pick<EndpointSecret, 'scheme' | 'secret'>, msgId: string, timestamp: Date, body: string): string {
  if (s.scheme === 'v1') return hmacSigner(s.secret).sign(msgId, timestamp, body);
  const content = `${msgId}.${Math.floor(timestamp.getTime() / 1000)}.${body}`;
  return `v1a,${cryptoSign(null, Buffer.from(content), edKey(s.secret)).toString('base64')}`;
}

/** The three Standard Webhooks headers for one attempt. */
export function signatureHeaders(secrets: readonly Pick<EndpointSecret, 'scheme' | 'secret'>[], msgId: string, timestamp: Date, body: string): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => signOne(s, msgId, timestamp, body)).join(' '),
  };
}

/** The ed25519 public key of a `whpk_` string (for consumers in tests and docs). */
export function publicKeyOf(whpk: string) {
  const raw = Buffer.from(whpk.slice('whpk_'.length), 'base64');
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}
