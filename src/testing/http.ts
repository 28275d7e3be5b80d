/**
 * The outgoing HTTP client: a keep-alive pool sized like Hasura's (`HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE`),
 * POST only, with one deadline for the whole exchange. Results are data, never exceptions, so callers can log
 * network failures the way Hasura records them.
 */
import http from 'node:http';
import https from 'node:https';

export type HeaderList = [string, string][];

export type HttpResult =
  | { kind: 'response'; status: number; headers: HeaderList; body: string }
  | { kind: 'error'; message: string };

export class HttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(maxSockets: number) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * Headers are merged case-insensitively with the later entry winning, like the `HashMap.fromList` Hasura
   * builds its header list with.
   */
  post(url: string, headers: HeaderList, body: string, timeoutMs: number): Promise<HttpResult> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.resolve({ kind: 'error', message: `Invalid URL: ${url}` });
    }
    const merged = new Map<string, [string, string]>();
    for (const [k, v] of headers) merged.set(k.toLowerCase(), [k, v]);
    const outHeaders: Record<string, string> = {};
    for (const [k, v] of merged.values()) outHeaders[k] = v;
    outHeaders['Content-Length'] = String(Buffer.byteLength(body));
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') return Promise.resolve({ kind: 'error', message: `Unsupported protocol: ${target.protocol}` });

    return new Promise<HttpResult>((resolveResult) => {
      let settled = false;
      const done = (r: HttpResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolveResult(r);
      };
      const req = (isHttps ? https : http).request(
        target,
        { method: 'POST', headers: outHeaders, agent: isHttps ? this.httpsAgent : this.httpAgent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const list: HeaderList = [];
            const raw = res.rawHeaders;
            for (let i = 0; i + 1 < raw.length; i += 2) list.push([raw[i]!, raw[i + 1]!]);
            done({ kind: 'response', status: res.statusCode ?? 0, headers: list, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (e) => done({ kind: 'error', message: e.message }));
        },
      );
      const timer = setTimeout(() => {
        done({ kind: 'error', message: 'Response timeout' });
        req.destroy();
      }, timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => {
        const refused = e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ECONNRESET';
        done({ kind: 'error', message: refused ? 'Connection failure' : e.message });
      });
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}
