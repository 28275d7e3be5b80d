/**
 * bull-board at `/admin/jobs`: every known queue, its jobs by state, retry/promote/clean. Guarded by the
 * admin secret header or HTTP basic auth from the settings; with neither configured it answers 401 to
 * everyone, so an unconfigured install never exposes job data. Failed logins are throttled per client,
 * every answer forbids framing (clickjacking) and content sniffing, and jobs added or edited from the board
 * pass the checks `jobsEnqueue` makes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import express from 'express';
import type { JobsConfig } from '../config.js';
import type { JobsService } from './service.js';

export const DASHBOARD_PATH = '/admin/jobs';

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison time says nothing about the expected value.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

type DashboardAuth = Pick<JobsConfig, 'JOBS_DASHBOARD_USERNAME' | 'JOBS_DASHBOARD_PASSWORD' | 'JOBS_DASHBOARD_ADMIN_SECRET'>;

export function dashboardAuthorized(headers: Request['headers'], config: DashboardAuth): boolean {
  const secret = config.JOBS_DASHBOARD_ADMIN_SECRET;
  const header = headers['x-hasura-admin-secret'];
  if (secret && typeof header === 'string' && sameSecret(header, secret)) return true;
  const user = config.JOBS_DASHBOARD_USERNAME;
  const pass = config.JOBS_DASHBOARD_PASSWORD;
  const auth = headers.authorization;
  if (!user || !pass || typeof auth !== 'string' || !/^basic /i.test(auth)) return false;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both halves are always compared, so a wrong user name takes as long as a wrong password.
  const userOk = sameSecret(decoded.slice(0, colon), user);
  const passOk = sameSecret(decoded.slice(colon + 1), pass);
  return userOk && passOk;
}

/** Failed logins a client may make before it is made to wait. */
export const FREE_LOGIN_FAILURES = 5;
const MAX_LOCKOUT_MS = 15 * 60_000;
const MAX_TRACKED_CLIENTS = 10_000;

/**
 * Failed logins per client: after `FREE_LOGIN_FAILURES`, every further failure locks the client out for
 * twice as long as the one before (1 s, 2 s, 4 s … up to 15 min), during which it gets 429 whatever it
 * sends; a success, or 15 minutes without a failure, forgets the client. In memory, per replica; bounded,
 * dropping the clients seen longest ago.
 */
export class LoginThrottle {
  private readonly clients = new Map<string, { failures: number; lockedUntil: number; lastFailure: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds the client must still wait, or 0. */
  retryAfterMs(client: string): number {
    const c = this.clients.get(client);
    if (!c) return 0;
    if (this.now() - c.lastFailure > MAX_LOCKOUT_MS) {
      this.clients.delete(client);
      return 0;
    }
    return Math.max(0, c.lockedUntil - this.now());
  }

  failed(client: string): void {
    const now = this.now();
    const c = this.clients.get(client) ?? { failures: 0, lockedUntil: 0, lastFailure: now };
    this.clients.delete(client);
    c.failures++;
    c.lastFailure = now;
    const over = c.failures - FREE_LOGIN_FAILURES;
    if (over > 0) c.lockedUntil = now + Math.min(MAX_LOCKOUT_MS, 1000 * 2 ** Math.min(over - 1, 20));
    this.clients.set(client, c);
    if (this.clients.size > MAX_TRACKED_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
  }

  succeeded(client: string): void {
    this.clients.delete(client);
  }
}

/** Whether the request tried to log in at all (a browser's first request carries no credentials). */
function presentsCredentials(headers: Request['headers']): boolean {
  return headers.authorization !== undefined || headers['x-hasura-admin-secret'] !== undefined;
}

/** Sent with every answer of the dashboard, the 401s and 429s included. */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function dashboardGuard(config: DashboardAuth, throttle = new LoginThrottle()) {
  const basic = !!(config.JOBS_DASHBOARD_USERNAME && config.JOBS_DASHBOARD_PASSWORD);
  return (req: Request, res: Response, next: NextFunction) => {
    const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const wait = throttle.retryAfterMs(client);
    if (wait > 0) {
      res.setHeader('retry-after', String(Math.ceil(wait / 1000)));
      res.status(429).json({ message: 'too many failed logins to the jobs dashboard; try again later', extensions: { code: 'jobs/login-throttled' } });
      return;
    }
    if (dashboardAuthorized(req.headers, config)) {
      throttle.succeeded(client);
      return next();
    }
    if (presentsCredentials(req.headers)) throttle.failed(client);
    if (basic) res.setHeader('www-authenticate', 'Basic realm="nself-plugins jobs", charset="UTF-8"');
    res.status(401).json({
      message: basic || config.JOBS_DASHBOARD_ADMIN_SECRET
        ? 'the jobs dashboard needs the admin secret (x-hasura-admin-secret) or basic auth'
        : 'the jobs dashboard is locked: set JOBS_DASHBOARD_USERNAME and JOBS_DASHBOARD_PASSWORD, or JOBS_DASHBOARD_ADMIN_SECRET',
      extensions: { code: 'jobs/unauthorized' },
    });
  };
}

/**
 * The dashboard's routes, to mount at `basePath`. The board is built on the first authorized request,
 * when the jobs service (and so the full list of queues) exists.
 */
export function dashboardRouter(getService: () => Promise<JobsService>, config: JobsConfig, basePath = DASHBOARD_PATH): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    for (const [k, v] of Object.entries(DASHBOARD_SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  });
  router.use(dashboardGuard(config));
  let board: Promise<express.RequestHandler> | undefined;
  const build = async () => {
    const svc = await getService();
    await svc.checkQueues();
    // bull-board (its UI and adapters) loads with the first authorized request, not at start.
    const { buildBoard } = await import('./dashboard-board.js');
    return buildBoard(svc, config, basePath);
  };
  router.use((req, res, next) => {
    board ??= build().catch((e: unknown) => {
      board = undefined;
      throw e;
    });
    board.then((handler) => handler(req, res, next), next);
  });
  return router;
}
