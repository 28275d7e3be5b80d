/**
 * FCM HTTP v1: a service-account JWT (RS256) exchanged for an OAuth access token at the account's token_uri,
 * cached until shortly before it expires (and dropped on a 401), then `projects/<id>/messages:send`.
 */
import { importPKCS8, SignJWT } from 'jose';
import { fitBody, transientStatus, type PushMessage, type PushOutcome, type PushSender, type PushTarget } from './types.js';

export interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  token_uri?: string;
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/** FCM data values must be strings. */
function stringData(m: PushMessage): Record<string, string> {
  const out: Record<string, string> = { notificationId: m.notificationId, category: m.category, tag: m.tag };
  if (m.actionUrl) out.url = m.actionUrl;
  for (const [k, v] of Object.entries(m.data)) {
    // Keys FCM reserves (from, message_type, google.*, gcm.*) are dropped rather than refused.
    if (k === 'from' || k === 'message_type' || k.startsWith('google.') || k.startsWith('gcm.')) continue;
    out[`data.${k}`] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}

export function fcmSender(account: ServiceAccount, apiUrl: string): PushSender {
  let cached: { token: string; until: number } | null = null;
  let pending: Promise<string> | null = null;
  const tokenUri = account.token_uri ?? DEFAULT_TOKEN_URI;

  async function fetchToken(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const key = await importPKCS8(account.private_key, 'RS256');
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(account.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key);
    const res = await fetch(tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
    if (!res.ok || !body.access_token) throw new Error(`fcm token: ${res.status} ${body.error ?? ''}`.trim());
    cached = { token: body.access_token, until: Date.now() + Math.max(60, (body.expires_in ?? 3600) - 300) * 1000 };
    return body.access_token;
  }

  async function accessToken(): Promise<string> {
    if (cached && cached.until > Date.now()) return cached.token;
    // One exchange at a time: a burst of pushes waits for the same token.
    pending ??= fetchToken().finally(() => (pending = null));
    return pending;
  }

  const base = apiUrl.replace(/\/+$/, '');
  return {
    kind: 'fcm',
    async send(target: PushTarget, m: PushMessage, signal?: AbortSignal): Promise<PushOutcome> {
      const data = stringData(m);
      const overhead = Buffer.byteLength(JSON.stringify({ title: m.title, data }));
      const message = {
        token: target.token,
        notification: { title: m.title, ...(m.body !== null ? { body: fitBody(m.body, overhead, 3900) } : {}) },
        data,
        android: { priority: m.priority === 'low' || m.priority === 'normal' ? 'NORMAL' : 'HIGH', collapse_key: m.tag.slice(0, 100), ttl: `${m.ttlSeconds}s` },
        apns: { headers: { 'apns-collapse-id': m.tag.slice(0, 64) } },
        webpush: { headers: { TTL: String(m.ttlSeconds) } },
      };
      for (let attempt = 0; attempt < 2; attempt++) {
        let token: string;
        try {
          token = await accessToken();
        } catch (e) {
          return { ok: false, gone: false, retryable: true, error: (e as Error).message };
        }
        let res: Response;
        try {
          res = await fetch(`${base}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ message }),
            signal: signal ?? null,
          });
        } catch (e) {
          return { ok: false, gone: false, retryable: true, error: `fcm: ${(e as Error).message}` };
        }
        const body = (await res.json().catch(() => ({}))) as { name?: string; error?: { status?: string; message?: string; details?: Array<{ errorCode?: string }> } };
        if (res.ok) return { ok: true, ref: body.name ?? null };
        if (res.status === 401 && attempt === 0) {
          cached = null; // revoked or expired early: one fresh token
          continue;
        }
        const code = body.error?.details?.find((d) => d.errorCode)?.errorCode ?? body.error?.status ?? '';
        const error = `fcm ${res.status} ${code}: ${body.error?.message ?? ''}`.trim().slice(0, 300);
        if (code === 'UNREGISTERED' || res.status === 404) return { ok: false, gone: true, retryable: false, error };
        return { ok: false, gone: false, retryable: transientStatus(res.status) || code === 'UNAVAILABLE' || code === 'INTERNAL' || code === 'QUOTA_EXCEEDED', error };
      }
      return { ok: false, gone: false, retryable: true, error: 'fcm: unauthorized with a fresh token' };
    },
    close() {},
  };
}
