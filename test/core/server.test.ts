import http from 'node:http';
import express from 'express';
import { createRouter, createServer, type NselfServer } from '../../src/core/server.js';
import { SECRET, actionBody, authHeaders, eventBody, lifecycle, startTestRuntime, type TestRuntime } from './helpers.js';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP request, optionally streaming the body in chunks without a content-length. */
function request(base: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string; chunks?: string[] } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

describe('HTTP server', () => {
  let t: TestRuntime;
  let server: NselfServer;
  let base: string;

  beforeAll(async () => {
    lifecycle.length = 0;
    t = await startTestRuntime('server', { BODY_LIMIT_BYTES: '4096' });
    server = createServer(t.runtime, { closeRuntime: false });
    base = (await server.listen(0, '127.0.0.1')).url;
  });
  afterAll(async () => {
    await server?.shutdown('test done');
    await t?.close();
  });

  it("runs plugins' start hooks before listening", () => {
    expect(lifecycle).toEqual(['start demo']);
  });

  it('GET /healthz, /readyz and /metrics', async () => {
    expect(await request(base, 'GET', '/healthz')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    const ready = await request(base, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { database: 'ok', queue: 'ok' }, engines: { database: 'external', queue: 'redis' } });
    await request(base, 'POST', '/actions/demoGreet', { headers: authHeaders, body: JSON.stringify(actionBody({ name: 'm' })) });
    const metrics = await request(base, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('nself_plugins_handler_duration_seconds_bucket{le="0.001",kind="action",name="demoGreet",status="200"}');
    expect(metrics.body).toContain('# TYPE nself_plugins_queue_jobs gauge');
  });

  it('reports queue depth per queue and state at scrape time', async () => {
    const name = `depth-${process.pid}-${Date.now()}`;
    const q = t.runtime.queue.queue(name);
    try {
      await q.add('job', { a: 1 });
      await q.add('job', { a: 2 }, { delay: 60_000 });
      const metrics = await request(base, 'GET', '/metrics');
      expect(metrics.body).toContain(`nself_plugins_queue_jobs{queue="${name}",state="waiting"} 1`);
      expect(metrics.body).toContain(`nself_plugins_queue_jobs{queue="${name}",state="delayed"} 1`);
    } finally {
      await q.obliterate({ force: true });
    }
  });

  it('serves the three webhook routes on the direct path', async () => {
    const a = await request(base, 'POST', '/actions/demoGreet', { headers: authHeaders, body: JSON.stringify(actionBody({ name: 'Ada' })) });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ greeting: 'hello Ada', role: 'user', userId: '42', first: null });
    expect(a.headers['content-length']).toBe(String(Buffer.byteLength(a.body)));
    const e = await request(base, 'POST', '/events/demo_item_created?x=1', { headers: authHeaders, body: JSON.stringify(eventBody({ id: 1 })) });
    expect(e).toMatchObject({ status: 200, body: '{"ok":true}' });
  });

  it('401 without the secret, 404 for unknown names, 405 for other methods', async () => {
    const body = JSON.stringify(actionBody({ name: 'a' }));
    expect((await request(base, 'POST', '/actions/demoGreet', { body })).status).toBe(401);
    expect((await request(base, 'POST', '/actions/nope', { headers: authHeaders, body })).status).toBe(404);
    expect((await request(base, 'POST', '/cron/nope/deeper', { headers: authHeaders, body })).status).toBe(404);
    const get = await request(base, 'GET', '/actions/demoGreet');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
  });

  it('413 when the declared or the streamed body is over BODY_LIMIT_BYTES, and the server keeps serving', async () => {
    const big = JSON.stringify(actionBody({ name: 'x'.repeat(5000) }));
    const declared = await request(base, 'POST', '/actions/demoGreet', { headers: authHeaders, body: big });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).extensions.code).toBe('payload-too-large');
    const streamed = await request(base, 'POST', '/actions/demoGreet', {
      headers: { ...authHeaders, 'transfer-encoding': 'chunked' },
      chunks: [big.slice(0, 3000), big.slice(3000)],
    });
    expect(streamed.status).toBe(413);
    expect((await request(base, 'GET', '/healthz')).status).toBe(200);
  });

  it('400 for a non-JSON body over HTTP', async () => {
    const r = await request(base, 'POST', '/events/demo_item_created', { headers: authHeaders, body: '<xml/>' });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('request body is not valid JSON');
  });

  it('hands other requests to express: plugin routes under /hooks/<plugin>, JSON 404 otherwise', async () => {
    const ping = await request(base, 'GET', '/hooks/demo/ping');
    expect(ping.status).toBe(200);
    expect(JSON.parse(ping.body)).toEqual({ pong: true, plugin: 'demo' });
    const missing = await request(base, 'GET', '/nothing-here');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ message: 'no route GET /nothing-here', extensions: { code: 'not-found' } });
    expect(missing.headers['x-powered-by']).toBeUndefined();
  });

  it('exports a router users mount in their own express app, even behind their JSON body parser', async () => {
    const app = express();
    app.use(express.json());
    app.use('/nself', createRouter(t.runtime));
    const host = http.createServer(app);
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
      const r = await request(url, 'POST', '/nself/actions/demoGreet', { headers: authHeaders, body: JSON.stringify(actionBody({ name: 'Bo' })) });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).greeting).toBe('hello Bo');
      expect((await request(url, 'GET', '/nself/hooks/demo/ping')).status).toBe(200);
      expect((await request(url, 'POST', '/nself/actions/demoGreet', { headers: { ...authHeaders, 'x-nself-plugins-secret': 'wrong-secret-wrong-secret' }, body: '{}' })).status).toBe(401);
    } finally {
      await new Promise((r) => host.close(r));
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes an in-flight request, refuses new connections, runs stop hooks and closes the pools', async () => {
    lifecycle.length = 0;
    const t = await startTestRuntime('shutdown');
    try {
      const server = createServer(t.runtime);
      const { url } = await server.listen(0, '127.0.0.1');
      const slow = request(url, 'POST', '/actions/demoGreet', { headers: authHeaders, body: JSON.stringify(actionBody({ name: 's', mode: 'SLOW' })) });
      await new Promise((r) => setTimeout(r, 100));
      expect(server.inFlight()).toBe(1);
      const stopped = server.shutdown('SIGTERM');
      await new Promise((r) => setTimeout(r, 50));
      await expect(request(url, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
      const r = await slow;
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).greeting).toBe('hello s');
      await stopped;
      expect(lifecycle).toEqual(['start demo', 'stop demo']);
      expect(t.runtime.db.pool.ended).toBe(true);
      const shutdownLog = t.logs.lines().find((l) => l.msg === 'shutting down: finishing in-flight requests');
      expect(shutdownLog).toMatchObject({ reason: 'SIGTERM', inFlight: 1 });
    } finally {
      await t.db.drop();
    }
  });

  it('cuts requests that outlive SHUTDOWN_TIMEOUT_MS', async () => {
    const t = await startTestRuntime('shutdown_timeout', { SHUTDOWN_TIMEOUT_MS: '100' });
    try {
      const server = createServer(t.runtime);
      const { url } = await server.listen(0, '127.0.0.1');
      const slow = request(url, 'POST', '/cron/demo_tick', { headers: authHeaders, body: JSON.stringify({ id: 'c-slow', name: 'demo_tick', scheduled_time: '2024-05-01T00:00:00Z', payload: { behaviour: 'slow' } }) });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await server.shutdown('SIGTERM');
      expect(Date.now() - started).toBeLessThan(550);
      await expect(slow).rejects.toThrow(/socket hang up|ECONNRESET/);
    } finally {
      await t.db.drop();
    }
  });
});

describe('webhook secret generation', () => {
  it('generates a secret in DATA_DIR when none is configured, keeps it 0600 and reuses it', async () => {
    const { mkdtemp, stat, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'nself-secret-'));
    const { createRuntime } = await import('../../src/core/runtime.js');
    const { createScratchDatabase, REDIS_URL } = await import('../support/db.js');
    const { demoPlugin, DEMO_SDL, captureLog } = await import('./helpers.js');
    const scratch = await createScratchDatabase('secret');
    try {
      const make = () =>
        createRuntime(
          { DATABASE_URL: scratch.url, REDIS_URL, DATA_DIR: dir, NSELF_PLUGINS_WEBHOOK_SECRET: '' },
          { plugins: [demoPlugin()], actionsSdl: () => DEMO_SDL, log: captureLog().log, defaultMetrics: false },
        );
      const first = await make();
      await first.close();
      const file = join(dir, 'webhook-secret');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const stored = (await readFile(file, 'utf8')).trim();
      expect(stored).toBe(first.webhookSecret);
      expect(stored.length).toBeGreaterThanOrEqual(32);
      const second = await make();
      await second.close();
      expect(second.webhookSecret).toBe(stored);
      expect(first.webhookSecret).not.toBe(SECRET);
    } finally {
      await scratch.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
