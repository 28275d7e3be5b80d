/**
 * bull-board at `/admin/jobs`: every known queue, its jobs by state, retry/promote/clean. Guarded by the
 * admin secret header or HTTP basic auth from the settings; with neither configured it answers 401 to
 * everyone, so an unconfigured install never exposes job data.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import express from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
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

export function dashboardGuard(config: DashboardAuth) {
  const basic = !!(config.JOBS_DASHBOARD_USERNAME && config.JOBS_DASHBOARD_PASSWORD);
  return (req: Request, res: Response, next: NextFunction) => {
    if (dashboardAuthorized(req.headers, config)) return next();
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
  router.use(dashboardGuard(config));
  let board: Promise<express.RequestHandler> | undefined;
  const build = async () => {
    const svc = await getService();
    const adapter = new ExpressAdapter().setBasePath(basePath);
    createBullBoard({
      queues: svc.registry.queues().map(
        (name) => new BullMQAdapter(svc.queue(name), { readOnlyMode: config.JOBS_DASHBOARD_READ_ONLY, allowRetries: !config.JOBS_DASHBOARD_READ_ONLY }),
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
