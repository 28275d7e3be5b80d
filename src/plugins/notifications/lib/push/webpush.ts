/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291) through the web-push
 * library. The tag becomes the `Topic` header, so a push service holding an undelivered message replaces it.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import webpush from 'web-push';
import { fitBody, transientStatus, type PushMessage, type PushOutcome, type PushSender, type PushTarget } from './types.js';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/** Push services accept at most 32 URL-safe base64 characters as a Topic. */
const topicOf = (tag: string) => createHash('sha256').update(tag).digest().subarray(0, 18).toString('base64url');

export function payloadOf(m: PushMessage): string {
  const base = { notificationId: m.notificationId, title: m.title, category: m.category, url: m.actionUrl, tag: m.tag, data: m.data };
  const overhead = Buffer.byteLength(JSON.stringify(base));
  return JSON.stringify({ ...base, body: fitBody(m.body, overhead) });
}

/**
 * VAPID headers per push service origin, reused for an hour (the token lives twelve): signing a fresh ES256
 * token for every message was the largest cost of a push.
 */
function vapidHeaders(vapid: VapidKeys) {
  const cache = new Map<string, { headers: Record<string, string>; until: number }>();
  return (endpoint: string): Record<string, string> => {
    const origin = new URL(endpoint).origin;
    const hit = cache.get(origin);
    if (hit && hit.until > Date.now()) return hit.headers;
    const exp = Math.floor(Date.now() / 1000) + 12 * 3600;
    const headers = webpush.getVapidHeaders(origin, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', exp) as Record<string, string>;
    if (cache.size > 1000) cache.clear();
    cache.set(origin, { headers, until: Date.now() + 3600_000 });
    return headers;
  };
}

export function webPushSender(vapid: VapidKeys, ca?: string): PushSender {
  const vapidFor = vapidHeaders(vapid);
  const agent = ca ? new https.Agent({ ca: [...(https.globalAgent.options.ca ? [https.globalAgent.options.ca].flat() : []), ca], keepAlive: true }) : new https.Agent({ keepAlive: true });
  return {
    kind: 'webpush',
    async send(target: PushTarget, m: PushMessage): Promise<PushOutcome> {
      try {
        const res = await webpush.sendNotification(
          { endpoint: target.endpoint!, keys: { p256dh: target.p256dh!, auth: target.auth! } },
          payloadOf(m),
          {
            headers: vapidFor(target.endpoint!),
            TTL: m.ttlSeconds,
            urgency: m.priority === 'critical' || m.priority === 'high' ? 'high' : m.priority === 'low' ? 'low' : 'normal',
            topic: topicOf(m.tag),
            agent,
            timeout: 30_000,
          },
        );
        return { ok: true, ref: (res.headers?.location as string | undefined) ?? null };
      } catch (e) {
        const err = e as { statusCode?: number; body?: string; message: string };
        const status = err.statusCode;
        if (status === 404 || status === 410) return { ok: false, gone: true, retryable: false, error: `webpush ${status}: subscription gone` };
        const error = `webpush${status ? ` ${status}` : ''}: ${(err.body || err.message).slice(0, 300)}`;
        return { ok: false, gone: false, retryable: status === undefined || transientStatus(status), error };
      }
    },
    close() {
      agent.destroy();
    },
  };
}
