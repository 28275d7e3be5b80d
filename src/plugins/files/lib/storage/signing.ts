/**
 * HMAC-signed, expiring URLs of the local driver: the same capability a presigned S3 URL gives (one
 * operation on one key, until a time, within a size), checked by our `/hooks/files/o/…` routes.
 *
 * Every query parameter but the signature is signed, together with the method class and the key, so
 * changing any of them (a larger size, a later expiry, another key, a download URL used to upload)
 * breaks the signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignedOp = 'put' | 'part' | 'get';

export interface SignedParams {
  op: SignedOp;
  key: string;
  /** Unix seconds. */
  exp: number;
  /** Everything else the URL carries (max size, content type, disposition, file name, upload id, part). */
  extra: Record<string, string>;
}

const SIG = 'sig';

/** The signing key: the configured secret, else one derived from the webhook secret (replicas agree). */
export function signingKey(configured: string | undefined, webhookSecret: string): Buffer {
  if (configured) return Buffer.from(configured, 'utf8');
  return createHmac('sha256', webhookSecret).update('nself-plugins/files/url-signing/v1').digest();
}

function canonical(p: SignedParams): string {
  const extra = Object.keys(p.extra)
    .sort()
    .map((k) => `${k}=${p.extra[k]}`)
    .join('\n');
  return `v1\n${p.op}\n${p.key}\n${p.exp}\n${extra}`;
}

export function signature(key: Buffer, p: SignedParams): string {
  return createHmac('sha256', key).update(canonical(p)).digest('base64url');
}

/** `<base>/o/<key>?op=…&exp=…&…&sig=…` */
export function signedUrl(base: string, key: Buffer, p: SignedParams): string {
  const q = new URLSearchParams({ op: p.op, exp: String(p.exp), ...p.extra });
  q.set(SIG, signature(key, p));
  return `${base}/o/${p.key.split('/').map(encodeURIComponent).join('/')}?${q.toString()}`;
}

export type Verdict = { ok: true; params: SignedParams } | { ok: false; status: 403; code: 'signature-mismatch' | 'expired' | 'missing-signature'; message: string };

/** Checks a request's query against its key; `now` in ms. */
export function verify(key: Buffer, objectKey: string, query: URLSearchParams, now = Date.now()): Verdict {
  const sig = query.get(SIG);
  const op = query.get('op');
  const exp = Number(query.get('exp'));
  if (!sig || !op || !Number.isSafeInteger(exp)) return { ok: false, status: 403, code: 'missing-signature', message: 'this URL is not signed' };
  const extra: Record<string, string> = {};
  for (const [k, v] of query) {
    if (k === SIG || k === 'op' || k === 'exp') continue;
    // A repeated parameter could make the signed value and the one acted on differ.
    if (k in extra || query.getAll(k).length > 1) return { ok: false, status: 403, code: 'signature-mismatch', message: `parameter ${k} is repeated` };
    extra[k] = v;
  }
  if (query.getAll(SIG).length > 1 || query.getAll('op').length > 1 || query.getAll('exp').length > 1) {
    return { ok: false, status: 403, code: 'signature-mismatch', message: 'a parameter is repeated' };
  }
  const params: SignedParams = { op: op as SignedOp, key: objectKey, exp, extra };
  const want = Buffer.from(signature(key, params));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    return { ok: false, status: 403, code: 'signature-mismatch', message: 'the signature does not match this URL' };
  }
  // Checked after the signature, so an attacker learns nothing about an expiry they cannot forge anyway.
  if (exp * 1000 < now) return { ok: false, status: 403, code: 'expired', message: 'this URL has expired' };
  return { ok: true, params };
}
