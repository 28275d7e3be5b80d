/**
 * Signed unsubscribe links (`/hooks/email/unsubscribe?t=…`) for non-transactional mail, and the
 * `List-Unsubscribe` / `List-Unsubscribe-Post` headers of RFC 8058 (one-click: mail clients POST
 * `List-Unsubscribe=One-Click` to the link). The token names the address, the category and the message, and
 * is HMAC-SHA256 signed; it does not expire, as an unsubscribe link in an old mail must keep working.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeClaim {
  address: string;
  category: string;
  messageId: string;
}

export function unsubscribeKey(configured: string | undefined, webhookSecret: string): Buffer {
  if (configured) return Buffer.from(configured, 'utf8');
  return Buffer.from(hkdfSync('sha256', webhookSecret, 'nself-plugins', 'email unsubscribe links', 32));
}

export function signUnsubscribe(key: Buffer, claim: UnsubscribeClaim): string {
  const payload = Buffer.from(JSON.stringify([claim.address, claim.category, claim.messageId]), 'utf8').toString('base64url');
  const mac = createHmac('sha256', key).update(payload).digest('base64url');
  return `${payload}.${mac}`;
}

export function verifyUnsubscribe(key: Buffer, token: unknown): UnsubscribeClaim | null {
  if (typeof token !== 'string' || token.length > 2000) return null;
  const dot = token.indexOf('.');
  if (dot <= 0) return null;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = createHmac('sha256', key).update(payload).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const v = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'string')) return null;
    const [address, category, messageId] = v as [string, string, string];
    return { address, category, messageId };
  } catch {
    return null;
  }
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/hooks/email/unsubscribe?t=${encodeURIComponent(token)}`;
}

export function listUnsubscribeHeaders(url: string, mailto?: string): Record<string, string> {
  const targets = [`<${url}>`, ...(mailto ? [`<mailto:${mailto}?subject=unsubscribe>`] : [])];
  return { 'List-Unsubscribe': targets.join(', '), 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}
