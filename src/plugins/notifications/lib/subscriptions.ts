/** Checks of push subscriptions as browsers and mobile SDKs hand them over. */
import { notificationsError } from './errors.js';

export function hostAllowed(host: string, patterns: string): boolean {
  const h = host.toLowerCase();
  return patterns
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean)
    .some((p) => p === '*' || p === h || (p.startsWith('*.') && (h.endsWith(p.slice(1)) || h === p.slice(2))));
}

const b64url = (s: string) => (/^[A-Za-z0-9_-]+={0,2}$/.test(s) ? Buffer.from(s.replace(/=+$/, ''), 'base64url') : null);

/** A Web Push subscription: an https endpoint of an allowed push service, a P-256 public key and a 16-byte secret. */
export function checkWebPush(sub: { endpoint: string; keys: { p256dh: string; auth: string } }, allowedHosts: string): void {
  let url: URL;
  try {
    url = new URL(sub.endpoint);
  } catch {
    throw notificationsError('notifications/invalid-subscription', 'endpoint is not a URL');
  }
  if (url.protocol !== 'https:') throw notificationsError('notifications/invalid-subscription', 'endpoint must be https');
  if (url.username || url.password) throw notificationsError('notifications/invalid-subscription', 'endpoint must not carry credentials');
  if (!hostAllowed(url.hostname, allowedHosts)) throw notificationsError('notifications/invalid-subscription', `endpoint host ${url.hostname} is not a known push service`);
  const key = b64url(sub.keys.p256dh);
  if (!key || key.length !== 65 || key[0] !== 4) throw notificationsError('notifications/invalid-subscription', 'keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)');
  const auth = b64url(sub.keys.auth);
  if (!auth || auth.length !== 16) throw notificationsError('notifications/invalid-subscription', 'keys.auth must be 16 bytes, base64url');
}
