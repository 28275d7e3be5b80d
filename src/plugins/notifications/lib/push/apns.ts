/**
 * APNs over HTTP/2 with token authentication: an ES256 provider token (key id, team id), renewed every 50
 * minutes (APNs refuses tokens older than an hour and renewals more often than every 20), on one HTTP/2
 * session reopened when it closes.
 */
import http2 from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import { fitBody, transientStatus, type PushMessage, type PushOutcome, type PushSender, type PushTarget } from './types.js';

export interface ApnsOptions {
  key: string;
  keyId: string;
  teamId: string;
  topic: string;
  url: string;
  ca?: string;
}

const TOKEN_LIFETIME_MS = 50 * 60_000;

export function apnsSender(o: ApnsOptions): PushSender {
  let session: http2.ClientHttp2Session | null = null;
  let jwt: { token: string; at: number } | null = null;

  const providerToken = async (): Promise<string> => {
    if (jwt && Date.now() - jwt.at < TOKEN_LIFETIME_MS) return jwt.token;
    const key = await importPKCS8(o.key, 'ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: o.keyId }).setIssuer(o.teamId).setIssuedAt().sign(key);
    jwt = { token, at: Date.now() };
    return token;
  };

  const connect = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(o.url, o.ca ? { ca: o.ca } : {});
    s.on('error', () => undefined);
    s.on('close', () => {
      if (session === s) session = null;
    });
    session = s;
    return s;
  };

  const request = (headers: http2.OutgoingHttpHeaders, body: string, signal?: AbortSignal) =>
    new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = connect().request(headers, signal ? { signal } : {});
      req.setTimeout(30_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let h: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (res) => {
        h = res;
        status = Number(res[':status']);
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status, headers: h, body: Buffer.concat(chunks).toString('utf8') }));
      req.on('error', reject);
      req.end(body);
    });

  return {
    kind: 'apns',
    async send(target: PushTarget, m: PushMessage, signal?: AbortSignal): Promise<PushOutcome> {
      const extra = { notificationId: m.notificationId, category: m.category, url: m.actionUrl, data: m.data };
      const overhead = Buffer.byteLength(JSON.stringify({ aps: { alert: { title: m.title } }, ...extra })) + 60;
      const payload = JSON.stringify({
        aps: {
          alert: { title: m.title, ...(m.body !== null ? { body: fitBody(m.body, overhead, 4000) } : {}) },
          sound: 'default',
          'thread-id': m.tag.slice(0, 64),
          ...(m.priority === 'critical' ? { 'interruption-level': 'time-sensitive' } : {}),
        },
        ...extra,
      });
      for (let attempt = 0; attempt < 2; attempt++) {
        let res;
        try {
          res = await request(
            {
              ':method': 'POST',
              ':path': `/3/device/${target.token}`,
              authorization: `bearer ${await providerToken()}`,
              'apns-topic': o.topic,
              'apns-push-type': 'alert',
              'apns-priority': m.priority === 'low' ? '5' : '10',
              'apns-expiration': String(Math.floor(Date.now() / 1000) + m.ttlSeconds),
              'apns-collapse-id': m.tag.slice(0, 64),
              'content-type': 'application/json',
            },
            payload,
            signal,
          );
        } catch (e) {
          session?.destroy();
          return { ok: false, gone: false, retryable: true, error: `apns: ${(e as Error).message}` };
        }
        if (res.status === 200) return { ok: true, ref: (res.headers['apns-id'] as string | undefined) ?? null };
        let reason = '';
        try {
          reason = (JSON.parse(res.body) as { reason?: string }).reason ?? '';
        } catch {
          /* no body */
        }
        if (res.status === 403 && reason === 'ExpiredProviderToken' && attempt === 0) {
          jwt = null;
          continue;
        }
        const error = `apns ${res.status} ${reason}`.trim();
        if (res.status === 410 || reason === 'BadDeviceToken' || reason === 'Unregistered' || reason === 'DeviceTokenNotForTopic') {
          return { ok: false, gone: true, retryable: false, error };
        }
        return { ok: false, gone: false, retryable: transientStatus(res.status) || reason === 'TooManyProviderTokenUpdates', error };
      }
      return { ok: false, gone: false, retryable: true, error: 'apns: provider token refused twice' };
    },
    close() {
      session?.close();
    },
  };
}
