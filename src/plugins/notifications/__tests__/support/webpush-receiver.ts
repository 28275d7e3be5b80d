/**
 * A Web Push endpoint as a push service runs it, over HTTPS with a self-signed certificate: it checks the VAPID
 * token (ES256 JWT signed by the `k` key, audience = the endpoint's origin, expiry within 24 h, a mailto:/https:
 * subject), the aes128gcm content encoding and TTL header, and decrypts the payload with the subscription's
 * private key and auth secret (http_ece), as a browser would. Per-subscription answers can be scripted (410 for a
 * gone subscription, 500 for an outage).
 */
import { createECDH, createPublicKey, randomBytes } from 'node:crypto';
import https from 'node:https';
import ece from 'http_ece';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { Tls } from './tls.js';

export interface ReceivedPush {
  subscription: string;
  payload: Record<string, any>;
  headers: Record<string, string | string[] | undefined>;
  claims: Record<string, unknown>;
}

export interface TestSubscription {
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export class WebPushReceiver {
  readonly received: ReceivedPush[] = [];
  readonly rejected: Array<{ subscription: string; status: number; reason: string }> = [];
  /** Scripted answers per subscription id: consumed one per request (then 201). */
  readonly script = new Map<string, number[]>();
  /** A constant answer per subscription id (e.g. 410 forever). */
  readonly answer = new Map<string, number>();
  vapidPublicKey: string | undefined;
  url = '';
  #server: https.Server | undefined;
  readonly #subs = new Map<string, { ecdh: ReturnType<typeof createECDH>; auth: Buffer }>();

  constructor(private readonly tls: Tls) {}

  async start(): Promise<void> {
    const server = https.createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.#handle(req, Buffer.concat(chunks)).then(({ status, reason }) => {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(reason);
        });
      });
    });
    this.#server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** A new subscription as a browser's PushManager.subscribe() would give it. */
  subscribe(): TestSubscription {
    const id = randomBytes(8).toString('hex');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.#subs.set(id, { ecdh, auth });
    return { id, endpoint: `${this.url}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
  }

  for(id: string): ReceivedPush[] {
    return this.received.filter((r) => r.subscription === id);
  }

  async #handle(req: import('node:http').IncomingMessage, body: Buffer): Promise<{ status: number; reason: string }> {
    const id = /^\/push\/([0-9a-f]+)$/.exec(req.url ?? '')?.[1];
    const reject = (status: number, reason: string) => {
      this.rejected.push({ subscription: id ?? '', status, reason });
      return { status, reason };
    };
    if (req.method !== 'POST' || !id) return reject(404, 'no such endpoint');
    const sub = this.#subs.get(id);
    if (!sub) return reject(404, 'unknown subscription');
    const auth = String(req.headers.authorization ?? '');
    const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(auth);
    if (!m) return reject(401, 'missing VAPID authorization');
    const [, token, k] = m;
    const raw = Buffer.from(k!, 'base64url');
    if (raw.length !== 65 || raw[0] !== 4) return reject(401, 'k is not a P-256 public key');
    if (this.vapidPublicKey && k !== this.vapidPublicKey) return reject(403, 'k is not the application server key of the subscription');
    let claims: Record<string, unknown>;
    try {
      if (decodeProtectedHeader(token!).alg !== 'ES256') return reject(401, 'VAPID token must be ES256');
      const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
      const r = await jwtVerify(token!, key, { audience: this.url });
      claims = r.payload as Record<string, unknown>;
    } catch (e) {
      return reject(401, `VAPID token does not verify: ${(e as Error).message}`);
    }
    const exp = Number(claims.exp);
    if (!(exp > Date.now() / 1000) || exp - Date.now() / 1000 > 24 * 3600) return reject(401, 'VAPID exp must be within 24 hours');
    if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return reject(401, 'VAPID sub must be mailto: or https:');
    if (req.headers['content-encoding'] !== 'aes128gcm') return reject(415, 'content-encoding must be aes128gcm');
    if (!/^\d+$/.test(String(req.headers.ttl ?? ''))) return reject(400, 'TTL header required');
    const topic = req.headers.topic;
    if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(String(topic))) return reject(400, 'Topic must be at most 32 URL-safe base64 characters');
    if (body.length > 4096) return reject(413, 'payload too large');
    const scripted = this.script.get(id);
    const status = scripted?.length ? scripted.shift()! : (this.answer.get(id) ?? 201);
    if (status !== 201) return reject(status, 'scripted');
    let payload: Record<string, any>;
    try {
      const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.auth.toString('base64url') }) as Buffer;
      payload = JSON.parse(plain.toString('utf8'));
    } catch (e) {
      return reject(400, `payload does not decrypt: ${(e as Error).message}`);
    }
    this.received.push({ subscription: id, payload, headers: req.headers, claims });
    return { status: 201, reason: '' };
  }
}
