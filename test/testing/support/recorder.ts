/**
 * A plain node:http handler server for harness tests: records every request (headers, raw body, parsed body,
 * arrival time) and answers from per-path scripts, so tests can assert exactly what "Hasura" sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body: any;
  at: number;
}

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON (default `{}`). */
  body?: unknown;
  /** Sent verbatim instead of `body`. */
  raw?: string;
  /** Wait this long before answering (for timeouts). */
  delayMs?: number;
}

export type Responder = (req: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>;

export class RecordingServer {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, ScriptedResponse[]>();
  private readonly defaults = new Map<string, Responder>();
  private readonly waiters: (() => void)[] = [];
  private server!: http.Server;
  url = '';

  static async start(): Promise<RecordingServer> {
    const s = new RecordingServer();
    s.server = http.createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  /** The next responses for `path`, in order; afterwards the path's default (200 `{}`) applies. */
  script(path: string, ...responses: ScriptedResponse[]): void {
    this.scripts.set(path, [...(this.scripts.get(path) ?? []), ...responses]);
  }

  respond(path: string, responder: Responder): void {
    this.defaults.set(path, responder);
  }

  to(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  reset(): void {
    this.requests.length = 0;
    this.scripts.clear();
    this.defaults.clear();
  }

  async waitFor(path: string, count: number, timeoutMs = 10_000): Promise<RecordedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(path).length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} requests to ${path}, got ${this.to(path).length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 20);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.to(path);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const rec: RecordedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, headers: req.headers, rawBody, body, at: Date.now() };
    this.requests.push(rec);
    while (this.waiters.length) this.waiters.shift()!();
    const queued = this.scripts.get(rec.path);
    const scripted = queued?.length ? queued.shift()! : await (this.defaults.get(rec.path)?.(rec) ?? { status: 200, body: {} });
    if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
    if (res.destroyed) return;
    const text = scripted.raw ?? JSON.stringify('body' in scripted ? scripted.body : {});
    res.writeHead(scripted.status, { 'Content-Type': 'application/json', ...scripted.headers });
    res.end(text);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
