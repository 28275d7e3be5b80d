/**
 * The bull-board dashboard behind its guard, over real HTTP and in real headless Chromium: the page loads,
 * lists the queues and shows a failed job with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { existsSync } from 'node:fs';
import express from 'express';
import { chromium, type Browser } from 'playwright-core';
import { BACKENDS, createFixture, silentLog, sleep, waitFor, type Fixture } from './support/fixture.js';
import { FREE_LOGIN_FAILURES, LoginThrottle } from '../lib/dashboard.js';
import { testPlugin } from './support/test-plugin.js';
import { jobsPlugin } from '../plugin.js';
import type { JobsConfig } from '../config.js';
import type { PluginRuntime, ServiceToken } from '../../../core/plugin.js';
import { jobsService } from '../lib/runtime.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const USER = 'ops';
const PASSWORD = 'correct horse battery';
const ADMIN_SECRET = 'admin-secret-0123456789';

async function serve(f: Fixture, config: JobsConfig): Promise<{ url: string; server: Server }> {
  const runtime: PluginRuntime<JobsConfig> = {
    plugin: 'jobs',
    config,
    core: f.core,
    log: silentLog,
    db: f.db,
    queue: f.provider,
    features: new Set(),
    plugins: [],
    pluginConfig: new Map(),
    // The board reaches the jobs service as the server's runtime would give it.
    service: <T>(token: ServiceToken<T>): T => {
      if (token !== (jobsService as ServiceToken<unknown>)) throw new Error(`the dashboard uses only the jobs service, not ${token.name}`);
      return f.jobs as T;
    },
    optionalService: () => undefined,
  };
  const router = express.Router();
  jobsPlugin.routes!(router, runtime);
  const app = express();
  // Where the server mounts a plugin whose manifest says routesMount: 'admin'.
  app.use(`/${jobsPlugin.routesMount}/jobs`, router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/jobs`, server };
}

describe.each(BACKENDS)('jobs dashboard on %s', (backend) => {
  let f: Fixture;
  let url: string;
  let server: Server;
  let browser: Browser | undefined;
  let failedId: string;

  beforeAll(async () => {
    f = await createFixture(backend, 13, {
      plugins: [testPlugin],
      env: { JOBS_DASHBOARD_USERNAME: USER, JOBS_DASHBOARD_PASSWORD: PASSWORD, JOBS_DASHBOARD_ADMIN_SECRET: ADMIN_SECRET },
    });
    await f.jobs.startWorkers(['default']);
    failedId = (await f.jobs.enqueue('jt.fatal', { tag: 'dash' }, { jobId: 'dashboard-failure' })).id;
    await waitFor(async () => (await f.jobs.get('default', failedId))?.state === 'failed');
    ({ url, server } = await serve(f, f.config));
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    await f?.close();
  });

  it('answers 401 without credentials, with a wrong password or a wrong secret', async () => {
    const none = await fetch(url + '/');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = await fetch(url + '/', { headers: { authorization: 'Basic ' + Buffer.from(`${USER}:nope`).toString('base64') } });
    expect(wrong.status).toBe(401);
    const wrongUser = await fetch(url + '/', { headers: { authorization: 'Basic ' + Buffer.from(`root:${PASSWORD}`).toString('base64') } });
    expect(wrongUser.status).toBe(401);
    const garbage = await fetch(url + '/', { headers: { authorization: 'Basic !!!' } });
    expect(garbage.status).toBe(401);
    const secret = await fetch(url + '/api/queues', { headers: { 'x-hasura-admin-secret': 'not-it' } });
    expect(secret.status).toBe(401);
    expect(await secret.json()).toMatchObject({ extensions: { code: 'jobs/unauthorized' } });
  });

  it('serves the board and its API with basic auth or the admin secret', async () => {
    const page = await fetch(url + '/', { headers: { authorization: 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const api = await fetch(url + '/api/queues?activeQueue=default&status=failed&page=1', { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...f.jobs.registry.queues()].sort());
    expect(body.queues.find((q) => q.name === 'default')!.counts.failed).toBe(1);
  });

  it('is locked for everyone when no credentials are configured', async () => {
    const locked = await serve(f, { ...f.config, JOBS_DASHBOARD_USERNAME: undefined, JOBS_DASHBOARD_PASSWORD: undefined, JOBS_DASHBOARD_ADMIN_SECRET: undefined });
    try {
      const r = await fetch(locked.url + '/', { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { message: string }).message).toMatch(/JOBS_DASHBOARD_USERNAME/);
    } finally {
      await new Promise((r) => locked.server.close(r));
    }
  });

  const basicAuth = (user: string, pass: string) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') });
  const asAdmin = { ...basicAuth(USER, PASSWORD), 'content-type': 'application/json' };

  it('forbids framing and sniffing on every answer, refusals included', async () => {
    const answers = [
      await fetch(url + '/'),
      await fetch(url + '/', { headers: basicAuth(USER, PASSWORD) }),
      await fetch(url + '/api/queues', { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([401, 200, 200]);
    for (const r of answers) {
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('throttles failed logins per client, with 429 and Retry-After, and lets the right password in after the wait', async () => {
    // A board of its own, so its throttle does not lock the other tests out.
    const own = await serve(f, f.config);
    try {
      const wrong = () => fetch(own.url + '/', { headers: basicAuth(USER, 'not-the-password') });
      // A browser's first request carries no credentials: never counted.
      for (let i = 0; i < 10; i++) expect((await fetch(own.url + '/')).status).toBe(401);
      for (let i = 0; i < FREE_LOGIN_FAILURES; i++) expect((await wrong()).status).toBe(401);
      expect((await wrong()).status).toBe(401);
      // Locked out now: even the right password waits.
      const locked = await fetch(own.url + '/', { headers: basicAuth(USER, PASSWORD) });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(locked.headers.get('x-frame-options')).toBe('DENY');
      expect(await locked.json()).toMatchObject({ extensions: { code: 'jobs/login-throttled' } });
      await sleep(Number(locked.headers.get('retry-after')) * 1000 + 100);
      expect((await fetch(own.url + '/', { headers: basicAuth(USER, PASSWORD) })).status).toBe(200);
      // The success forgot the failures: five wrong passwords are free again.
      for (let i = 0; i < FREE_LOGIN_FAILURES; i++) expect((await wrong()).status).toBe(401);
    } finally {
      await new Promise((r) => own.server.close(r));
    }
  });

  it('locks a client out for twice as long with every further failure', () => {
    let now = 0;
    const t = new LoginThrottle(() => now);
    for (let i = 0; i < FREE_LOGIN_FAILURES; i++) t.failed('a');
    expect(t.retryAfterMs('a')).toBe(0);
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      t.failed('a');
      waits.push(t.retryAfterMs('a'));
      now += t.retryAfterMs('a');
    }
    expect(waits.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(Math.max(...waits)).toBe(15 * 60_000);
    expect(t.retryAfterMs('b')).toBe(0);
    // Fifteen minutes without a failure and the client starts afresh.
    now += 15 * 60_000 + 1;
    expect(t.retryAfterMs('a')).toBe(0);
    t.failed('a');
    expect(t.retryAfterMs('a')).toBe(0);
  });

  it("checks jobs added from the board against the job's schema and the enqueue rules, adding nothing it refuses", async () => {
    const add = (queue: string, body: unknown) =>
      fetch(`${url}/api/queues/${encodeURIComponent(queue)}/add`, { method: 'POST', headers: asAdmin, body: JSON.stringify(body) });
    const before = await f.jobs.stats();
    const refusals: [string, unknown, number, RegExp][] = [
      ['default', { name: 'jt.echo', data: { tag: 42 } }, 400, /data of job "jt.echo" is invalid: tag/],
      ['default', { name: 'jt.echo', data: { tag: 'a\u0000b' } }, 400, /U\+0000/],
      ['default', { name: 'nope', data: {} }, 404, /no job named "nope"/],
      ['default', { name: 'jt.serial', data: { tag: 'x', label: 'y' } }, 400, /runs on queue "jt.serial"/],
      ['default', { name: 'jt.echo', data: { tag: 'x' }, options: { jobId: 'repeat' } }, 400, /reserved/],
      ['default', { name: 'jt.echo', data: { tag: 'x' }, options: { repeat: { every: 1000 } } }, 400, /repeat cannot be set here/],
      ['default', { name: 'jt.echo', data: { tag: 'x' }, options: { delay: 400 * 86_400_000 } }, 400, /more than 365 days/],
    ];
    for (const [queue, body, status, message] of refusals) {
      const r = await add(queue, body);
      expect([r.status, ((await r.json()) as { message: string }).message]).toEqual([status, expect.stringMatching(message)]);
    }
    expect(await f.jobs.stats()).toEqual(before);

    const ok = await add('default', { name: 'jt.echo', data: { tag: 'from-board', label: 'added' }, options: { priority: 7, jobId: 'board-added' } });
    expect(ok.status).toBe(200);
    const job = (await f.provider.queue('default').getJob('board-added'))!;
    // The same defaults as jobsEnqueue: retention, attempts, backoff.
    expect(job.opts).toMatchObject({ priority: 7, attempts: 3, removeOnComplete: f.jobs.defaults.removeOnComplete, removeOnFail: f.jobs.defaults.removeOnFail });
  });

  it('checks data and delays edited on the board the same way', async () => {
    const job = await f.jobs.enqueue('jt.serial', { tag: 'edit', label: 'before' }, { jobId: 'board-edit', delayMs: 600_000 });
    const patch = (path: string, body: unknown) =>
      fetch(`${url}/api/queues/jt.serial/board-edit/${path}`, { method: 'PATCH', headers: asAdmin, body: JSON.stringify(body) });
    const bad = await patch('update-data', { jobData: { tag: 'edit' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/label/);
    expect((await patch('update-data', { jobData: { tag: 'edit', label: '\ud800' } })).status).toBe(400);
    expect((await f.jobs.get('jt.serial', job.id))?.data).toEqual({ tag: 'edit', label: 'before' });
    expect((await patch('update-data', { jobData: { tag: 'edit', label: 'after' } })).status).toBe(200);
    expect((await f.jobs.get('jt.serial', job.id))?.data).toEqual({ tag: 'edit', label: 'after' });
    const far = await patch('delay', { runAt: Date.now() + 400 * 86_400_000 });
    expect(far.status).toBe(400);
    expect((await patch('delay', { runAt: Date.now() + 3_600_000 })).status).toBe(200);
    expect((await f.jobs.get('jt.serial', job.id))?.delayMs).toBeGreaterThan(3_000_000);
    await f.jobs.cancel('jt.serial', job.id);
  });

  it('loads in headless Chromium, lists the queues and shows the failed job', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
    const page = await context.newPage();
    const res = await page.goto(url + '/', { waitUntil: 'networkidle' });
    expect(res?.status()).toBe(200);
    for (const q of ['default', 'high-priority', 'low-priority', 'scheduled', 'jt.slow']) {
      await page.getByText(q, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
    await page.goto(url + '/queue/default?status=failed', { waitUntil: 'networkidle' });
    await page.getByText('card declined for good').first().waitFor({ timeout: 15_000 });
    await page.getByText(failedId).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: `/tmp/jobs-dashboard-${backend}.png`, fullPage: true });
    await context.close();
  }, 60_000);
});
