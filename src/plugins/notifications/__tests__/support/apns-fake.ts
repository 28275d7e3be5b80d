/**
 * A strict fake of APNs over HTTP/2 with TLS: a provider token (ES256 JWT with kid and iss, signed by the
 * team's key, at most an hour old), apns-topic equal to the app's bundle id, apns-push-type, a hex device token,
 * JSON with an aps dictionary, at most 4096 bytes; answers 400 BadDeviceToken, 410 Unregistered (with a
 * timestamp), 403 InvalidProviderToken/ExpiredProviderToken, 413 PayloadTooLarge as APNs does.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { jwtVerify } from 'jose';
import type { Tls } from './tls.js';

export class ApnsFake {
  readonly keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  readonly keyId = 'ABC123DEFG';
  readonly teamId = 'TEAM123456';
  readonly topic = 'com.example.chat';
  readonly devices = new Set<string>();
  readonly gone = new Set<string>();
  readonly delivered: Array<{ token: string; payload: Record<string, any>; headers: http2.IncomingHttpHeaders }> = [];
  url = '';
  #server: http2.Http2SecureServer | undefined;

  constructor(private readonly tls: Tls) {}

  privateKeyPem(): string {
    return this.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  async start(): Promise<void> {
    const server = http2.createSecureServer({ cert: this.tls.cert, key: this.tls.key });
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        void this.#handle(headers, Buffer.concat(chunks)).then(({ status, reason, extra }) => {
          stream.respond({ ':status': status, 'apns-id': String(headers['apns-id'] ?? randomUUID()), ...(reason ? { 'content-type': 'application/json' } : {}) });
          stream.end(reason ? JSON.stringify({ reason, ...extra }) : undefined);
        });
      });
    });
    this.#server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  async #handle(h: http2.IncomingHttpHeaders, body: Buffer): Promise<{ status: number; reason?: string; extra?: Record<string, unknown> }> {
    const m = /^\/3\/device\/(.+)$/.exec(String(h[':path']));
    if (h[':method'] !== 'POST' || !m) return { status: 405, reason: 'MethodNotAllowed' };
    const bearer = /^bearer (.+)$/.exec(String(h.authorization ?? ''))?.[1];
    if (!bearer) return { status: 403, reason: 'MissingProviderToken' };
    try {
      const { payload, protectedHeader } = await jwtVerify(bearer, this.keys.publicKey, { issuer: this.teamId, algorithms: ['ES256'] });
      if (protectedHeader.kid !== this.keyId) return { status: 403, reason: 'InvalidProviderToken' };
      if (!payload.iat || Date.now() / 1000 - payload.iat > 3600) return { status: 403, reason: 'ExpiredProviderToken' };
    } catch {
      return { status: 403, reason: 'InvalidProviderToken' };
    }
    if (h['apns-topic'] !== this.topic) return { status: 400, reason: 'DeviceTokenNotForTopic' };
    if (!['alert', 'background', 'voip'].includes(String(h['apns-push-type']))) return { status: 400, reason: 'InvalidPushType' };
    const token = m[1]!;
    if (!/^[0-9a-f]{64,200}$/.test(token)) return { status: 400, reason: 'BadDeviceToken' };
    if (body.length > 4096) return { status: 413, reason: 'PayloadTooLarge' };
    let payload: Record<string, any>;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, reason: 'PayloadEmpty' };
    }
    if (!payload.aps || typeof payload.aps !== 'object') return { status: 400, reason: 'MissingAps' };
    if (this.gone.has(token)) return { status: 410, reason: 'Unregistered', extra: { timestamp: Date.now() } };
    if (!this.devices.has(token)) return { status: 400, reason: 'BadDeviceToken' };
    this.delivered.push({ token, payload, headers: h });
    return { status: 200 };
  }
}
