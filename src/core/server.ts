/**
 * HTTP: a `node:http` listener that serves Hasura's three webhook routes itself (the hot path, measured at
 * ~6× express's throughput here) and hands every other request to an express 5 app (health, metrics,
 * plugins' third-party hooks). `buildApp`/`createRouter` are usable without `createServer`, for users who
 * mount the suite into their own express app.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import { createDispatcher, type Dispatch, type Kind } from './dispatch.js';
import { remoteSchemaRouter } from './remote-schema.js';
import type { ServerRuntime } from './runtime.js';

/** Shared between the listener and the router: readiness flips to 503 as soon as shutdown starts. */
export interface ServerState {
  shuttingDown: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function sendJson(res: http.ServerResponse, status: number, value: unknown, extra?: Record<string, string>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

const STATE = Symbol('nself-plugins.webhook');
const EMPTY = Buffer.alloc(0);

/**
 * Per-request state of a webhook body being read. Kept on the request and read by module-level listeners
 * (`this` is the request), so the hot path creates one object per request instead of a set of closures.
 */
interface WebhookState {
  dispatch: Dispatch;
  limit: number;
  kind: Kind;
  name: string;
  res: http.ServerResponse;
  size: number;
  first: Buffer | undefined;
  chunks: Buffer[] | undefined;
  done: boolean;
}

type WebhookRequest = http.IncomingMessage & { [STATE]?: WebhookState; body?: unknown };

function tooLarge(res: http.ServerResponse, limit: number): void {
  // The rest of an oversized body is not read: close the connection instead of draining it.
  sendJson(res, 413, { message: `request body exceeds ${limit} bytes`, extensions: { code: 'payload-too-large' } }, { connection: 'close' });
}

function onBodyData(this: WebhookRequest, chunk: Buffer): void {
  const s = this[STATE]!;
  if (s.done) return;
  s.size += chunk.length;
  if (s.size > s.limit) {
    s.done = true;
    tooLarge(s.res, s.limit);
    return;
  }
  // Most Hasura bodies arrive in one chunk: no array, no concat.
  if (s.first === undefined) s.first = chunk;
  else (s.chunks ??= [s.first]).push(chunk);
}

function onBodyEnd(this: WebhookRequest): void {
  const s = this[STATE]!;
  if (s.done) return;
  s.done = true;
  void respond(s.dispatch, s.kind, s.name, this, s.res, s.chunks ? Buffer.concat(s.chunks, s.size) : (s.first ?? EMPTY));
}

function onBodyError(this: WebhookRequest): void {
  const s = this[STATE]!;
  if (s.done) return;
  s.done = true;
  if (!s.res.headersSent) sendJson(s.res, 400, { message: 'request body could not be read', extensions: { code: 'invalid-request' } }, { connection: 'close' });
}

async function respond(dispatch: Dispatch, kind: Kind, name: string, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | string): Promise<void> {
  try {
    const result = await dispatch(kind, name, req.headers, body);
    result.headers['content-length'] = String(Buffer.byteLength(result.body));
    res.writeHead(result.status, result.headers);
    res.end(result.body);
  } catch {
    if (!res.headersSent) sendJson(res, 500, { message: 'internal error', extensions: { code: 'internal' } });
    else res.destroy();
  }
}

/**
 * Serves one webhook request through the dispatcher: reads the body up to `limit` bytes (413 as soon as it
 * is known to be larger), then answers. Never throws; every failure is a JSON 4xx/5xx.
 */
export function handleWebhook(dispatch: Dispatch, limit: number, kind: Kind, name: string, req: WebhookRequest, res: http.ServerResponse): void {
  if (req.readableEnded && req.body !== undefined) {
    // A host app's body parser ran before our router; use what it read.
    const b = req.body;
    void respond(dispatch, kind, name, req, res, Buffer.isBuffer(b) ? b : typeof b === 'string' ? b : JSON.stringify(b));
    return;
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    tooLarge(res, limit);
    return;
  }
  req[STATE] = { dispatch, limit, kind, name, res, size: 0, first: undefined, chunks: undefined, done: false };
  req.on('data', onBodyData);
  req.on('end', onBodyEnd);
  req.on('error', onBodyError);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RouterOptions {
  state?: ServerState;
  dispatch?: Dispatch;
}

/**
 * Everything the suite serves, as an express Router: health, readiness, metrics, the three webhook routes
 * and each plugin's routes under `/hooks/<plugin>` (or `/admin/<plugin>`).
 */
export function createRouter(runtime: ServerRuntime, opts: RouterOptions = {}): express.Router {
  const state = opts.state ?? { shuttingDown: false };
  const dispatch = opts.dispatch ?? createDispatcher(runtime);
  const limit = runtime.core.BODY_LIMIT_BYTES;
  const router = express.Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    if (state.shuttingDown) {
      res.status(503).json({ status: 'shutting-down' });
      return;
    }
    const check = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000, what);
        return 'ok';
      } catch (err) {
        runtime.log.warn({ err }, 'readiness check failed: %s', what);
        return 'failed';
      }
    };
    const [database, queue] = await Promise.all([
      check('database', () => runtime.db.query('select 1')),
      check('queue', () => runtime.queue.ping()),
    ]);
    const ready = database === 'ok' && queue === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready', checks: { database, queue }, engines: runtime.engines });
  });

  router.get('/metrics', async (_req, res, next) => {
    try {
      const text = await runtime.metrics.registry.metrics();
      res.type(runtime.metrics.registry.contentType).send(text);
    } catch (e) {
      next(e);
    }
  });

  const webhook = (kind: Kind) => (req: Request, res: Response) => {
    handleWebhook(dispatch, limit, kind, String(req.params.name), req, res);
  };
  router.post('/actions/:name', webhook('action'));
  router.post('/events/:name', webhook('event'));
  router.post('/events/:plugin/:handler', (req: Request, res: Response) => {
    handleWebhook(dispatch, limit, 'event', `${String(req.params.plugin)}/${String(req.params.handler)}`, req, res);
  });
  router.post('/cron/:name', webhook('cron'));
  router.use(remoteSchemaRouter(runtime));

  for (const plugin of runtime.plugins) {
    if (!plugin.routes) continue;
    const sub = express.Router();
    plugin.routes(sub, runtime.pluginRuntime(plugin.name));
    router.use(`/${plugin.routesMount ?? 'hooks'}/${plugin.name}`, sub);
  }
  return router;
}

const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = Number((err as { status?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode);
  if (status >= 400 && status < 500) {
    res.status(status).json({ message: (err as Error).message, extensions: { code: 'invalid-request' } });
    return;
  }
  (res.locals.onError as ((e: unknown) => void) | undefined)?.(err);
  res.status(500).json({ message: 'internal error', extensions: { code: 'internal' } });
};

/** The express app: our router, JSON 404s, and an error handler that never leaks a stack. */
export function buildApp(runtime: ServerRuntime, opts: RouterOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.locals.onError = (err: unknown) => runtime.log.error({ err }, 'request failed');
    next();
  });
  app.use(createRouter(runtime, opts));
  app.use((req, res) => {
    res.status(404).json({ message: `no route ${req.method} ${req.path}`, extensions: { code: 'not-found' } });
  });
  app.use(errorHandler);
  return app;
}

export interface NselfServer {
  readonly http: http.Server;
  readonly app: express.Express;
  readonly dispatch: Dispatch;
  /** Runs plugins' `start()` hooks, then listens (defaults: PORT and HOST from the settings). */
  listen(port?: number, host?: string): Promise<{ port: number; host: string; url: string }>;
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (at most SHUTDOWN_TIMEOUT_MS),
   * run plugins' stop functions, close the runtime. Idempotent.
   */
  shutdown(reason?: string): Promise<void>;
  /** Number of requests being served. */
  inFlight(): number;
}

export interface ServerOptions {
  /** Close the runtime (pools, queue, embedded PostgreSQL) at the end of shutdown (default true). */
  closeRuntime?: boolean;
  /** Serves a request before the suite's routes when it returns true (`nself-plugins dev` adds /v1/graphql). */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

const PREFIXES: ReadonlyArray<readonly [string, Kind]> = [
  ['/actions/', 'action'],
  ['/events/', 'event'],
  ['/cron/', 'cron'],
];

/** A plugin's `start()` hook failed: reported by plugin, not as a listen failure. */
export class PluginStartError extends Error {
  constructor(readonly plugin: string, cause: unknown) {
    super(`plugin ${plugin} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PluginStartError';
  }
}

export function createServer(runtime: ServerRuntime, opts: ServerOptions = {}): NselfServer {
  const state: ServerState = { shuttingDown: false };
  const dispatch = createDispatcher(runtime);
  const app = buildApp(runtime, { state, dispatch });
  const limit = runtime.core.BODY_LIMIT_BYTES;
  const log = runtime.log;
  let inFlight = 0;
  let stops: Array<{ plugin: string; stop: () => Promise<void> }> = [];

  const onDone = () => {
    inFlight--;
    // Keep-alive sockets that just became idle would hold server.close() open until the timeout.
    if (state.shuttingDown) setImmediate(() => server.closeIdleConnections());
  };

  const server = http.createServer((req, res) => {
    inFlight++;
    res.on('close', onDone);
    if (state.shuttingDown) res.setHeader('connection', 'close');
    if (opts.intercept?.(req, res)) return;
    const url = req.url ?? '/';
    for (const [prefix, kind] of PREFIXES) {
      if (!url.startsWith(prefix)) continue;
      if (req.method !== 'POST') {
        sendJson(res, 405, { message: `${req.method} not allowed; Hasura calls this route with POST`, extensions: { code: 'method-not-allowed' } }, { allow: 'POST' });
        return;
      }
      const q = url.indexOf('?', prefix.length);
      const name = q === -1 ? url.slice(prefix.length) : url.slice(prefix.length, q);
      handleWebhook(dispatch, limit, kind, name, req, res);
      return;
    }
    app(req, res);
  });
  // Hasura keeps connections alive; make sure idle sockets outlive its pool's idea of them.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  let stopping: Promise<void> | undefined;

  return {
    http: server,
    app,
    dispatch,
    inFlight: () => inFlight,
    async listen(port = runtime.core.PORT, host = runtime.core.HOST) {
      for (const plugin of runtime.plugins) {
        if (!plugin.start) continue;
        let stop: void | (() => Promise<void>);
        try {
          stop = await plugin.start(runtime.pluginRuntime(plugin.name));
        } catch (e) {
          throw new PluginStartError(plugin.name, e);
        }
        if (stop) stops.push({ plugin: plugin.name, stop });
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const url = `http://${shownHost === '0.0.0.0' || shownHost === '[::]' ? 'localhost' : shownHost}:${addr.port}`;
      log.info({ port: addr.port, host: addr.address, publicUrl: runtime.core.PUBLIC_URL }, 'listening on %s', url);
      return { port: addr.port, host: addr.address, url };
    },
    shutdown(reason = 'shutdown') {
      stopping ??= (async () => {
        state.shuttingDown = true;
        log.info({ reason, inFlight }, 'shutting down: finishing in-flight requests');
        const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          closed.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), runtime.core.SHUTDOWN_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          log.warn({ inFlight }, 'shutdown timeout reached: closing remaining connections');
          server.closeAllConnections();
          await closed;
        }
        for (const { plugin, stop } of stops.reverse()) {
          try {
            await stop();
          } catch (err) {
            log.error({ err, plugin }, 'plugin stop failed');
          }
        }
        stops = [];
        if (opts.closeRuntime ?? true) await runtime.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/** SIGTERM/SIGINT → graceful shutdown; a second signal exits at once. Returns a function removing the handlers. */
export function handleSignals(server: NselfServer, onStopped: (code: number) => void): () => void {
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    if (received) {
      process.exit(1);
    }
    received = true;
    server.shutdown(signal).then(
      () => onStopped(0),
      () => onStopped(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
