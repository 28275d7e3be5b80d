/**
 * A webhook consumer on 127.0.0.1: every request is verified with the `standardwebhooks` library exactly as a
 * consumer would (v1a with node:crypto's ed25519, which that library lacks), and recorded. `respond` decides the
 * answer per request: a status, headers, a delay, or `hang` (never answers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verify as edVerify } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { publicKeyOf } from '../../lib/signing.js';

export interface Received {
  headers: Record<string, string>;
  body: string;
  /** Which of the consumer's keys verified it (index into `keys`), or null. */
  verifiedWith: number | null;
  error: string | null;
  at: number;
}

export type Reply = { status?: number; headers?: Record<string, string>; body?: string; delayMs?: number; hang?: boolean };

export class Receiver {
  readonly received: Received[] = [];
  /** whsec_ secrets or whpk_ public keys the consumer holds. */
  keys: string[] = [];
  respond: (r: Received, n: number) => Reply = () => ({ status: 204 });
  private server!: Server;
  private hanging = new Set<ServerResponse>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const rec: Received = { headers, body, verifiedWith: null, error: null, at: Date.now() };
    for (const [i, key] of this.keys.entries()) {
      try {
        if (key.startsWith('whpk_')) verifyV1a(key, headers, body);
        else new Webhook(key).verify(body, headers);
        rec.verifiedWith = i;
        break;
      } catch (e) {
        rec.error = (e as Error).message;
      }
    }
    this.received.push(rec);
    const reply = this.respond(rec, this.received.length);
    if (reply.hang) {
      this.hanging.add(res);
      return;
    }
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    res.writeHead(reply.status ?? 204, reply.headers ?? {});
    res.end(reply.body ?? '');
  }

  verified(): Received[] {
    return this.received.filter((r) => r.verifiedWith !== null);
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Standard Webhooks v1a: ed25519 over `id.timestamp.body`, one of the space-separated `v1a,` signatures. */
function verifyV1a(whpk: string, headers: Record<string, string>, body: string): void {
  const ts = Number(headers['webhook-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) throw new Error('timestamp out of tolerance');
  const content = Buffer.from(`${headers['webhook-id']}.${ts}.${body}`);
  const key = publicKeyOf(whpk);
  const ok = (headers['webhook-signature'] ?? '')
    .split(' ')
    .filter((s) => s.startsWith('v1a,'))
    .some((s) => edVerify(null, content, key, Buffer.from(s.slice(4), 'base64')));
  if (!ok) throw new Error('no matching v1a signature');
}
