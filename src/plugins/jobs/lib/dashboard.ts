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
import type { Job, Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { ActionError } from '../../../core/errors.js';
import { backendKeyNames } from '../../../core/queue.js';
import type { JobsConfig } from '../config.js';
import type { JobsService } from './service.js';
import type { EnqueueOptions } from './enqueue.js';
import { jobsError } from './errors.js';

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
 * The options of the board's "add job" form (BullMQ's names) as `EnqueueOptions`: those `jobsEnqueue` also
 * takes; anything else (`repeat`, retention, …) is a 400.
 */
function boardOptions(options: unknown): EnqueueOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw jobsError('jobs/invalid-input', 'options must be an object');
  const o = options as Record<string, unknown>;
  const allowed = ['jobId', 'delay', 'priority', 'lifo', 'attempts'];
  const other = Object.keys(o).filter((k) => !allowed.includes(k));
  if (other.length) throw jobsError('jobs/invalid-input', `option${other.length > 1 ? 's' : ''} ${other.join(', ')} cannot be set here; allowed: ${allowed.join(', ')}`);
  const int = (k: string, min: number, max: number) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw jobsError('jobs/invalid-input', `${k} must be a whole number from ${min} to ${max}`);
    return v;
  };
  if (o.jobId !== undefined && typeof o.jobId !== 'string') throw jobsError('jobs/invalid-input', 'jobId must be a string');
  if (o.lifo !== undefined && typeof o.lifo !== 'boolean') throw jobsError('jobs/invalid-input', 'lifo must be true or false');
  const delayMs = int('delay', 0, Number.MAX_SAFE_INTEGER);
  const priority = int('priority', 1, 2_097_151);
  const attempts = int('attempts', 1, 1000);
  return {
    ...(o.jobId !== undefined ? { jobId: o.jobId as string } : {}),
    ...(delayMs ? { delayMs } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(o.lifo ? { lifo: true } : {}),
    ...(attempts !== undefined ? { attempts } : {}),
  };
}

/** A refusal bull-board answers with its status (it reads `statusCode`) rather than as a 500. */
function boardError(e: unknown): unknown {
  if (e instanceof ActionError) return Object.assign(new Error(e.message), { statusCode: e.status });
  return e;
}

/**
 * bull-board's BullMQ adapter, with adds and edits of job data going through the jobs service's checks:
 * bull-board's own add would put any data, id and options straight into the queue.
 */
class CheckedQueueAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    private readonly svc: JobsService,
    private readonly queueName: string,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
  ) {
    super(queue, options);
  }

  override async addJob(name: string, data: unknown, options: unknown): Promise<Job> {
    try {
      return await this.svc.enqueueOn(this.queueName, name, data ?? {}, boardOptions(options));
    } catch (e) {
      throw boardError(e);
    }
  }

  override async getJob(id: string): Promise<Job | undefined> {
    // On Redis the lookup of a BullMQ key name would read a queue structure (see jobIdProblem).
    if (backendKeyNames().has(id)) return undefined;
    const job = await super.getJob(id);
    if (!job) return undefined;
    const { svc, queueName } = this;
    const updateData = job.updateData.bind(job);
    const changeDelay = job.changeDelay.bind(job);
    return Object.assign(job, {
      async updateData(data: unknown) {
        try {
          svc.check(queueName, job.name, data);
        } catch (e) {
          throw boardError(e);
        }
        return updateData(data);
      },
      async changeDelay(delay: number) {
        try {
          svc.check(queueName, job.name, job.data, { delayMs: Math.round(delay) });
        } catch (e) {
          throw boardError(e);
        }
        return changeDelay(delay);
      },
    });
  }
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
    const adapter = new ExpressAdapter().setBasePath(basePath);
    createBullBoard({
      queues: svc.usableQueues().map(
        (name) =>
          new CheckedQueueAdapter(svc.queue(name), svc, name, {
            readOnlyMode: config.JOBS_DASHBOARD_READ_ONLY,
            allowRetries: !config.JOBS_DASHBOARD_READ_ONLY,
          }),
      ),
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'nself jobs', hideDocsLink: true } },
    });
    return adapter.getRouter() as express.RequestHandler;
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
