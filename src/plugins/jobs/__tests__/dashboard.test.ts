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
import { BACKENDS, createFixture, silentLog, waitFor, type Fixture } from './support/fixture.js';
import { testPlugin } from './support/test-plugin.js';
import { jobsPlugin } from '../plugin.js';
import type { JobsConfig } from '../config.js';
import type { PluginRuntime } from '../../../core/plugin.js';

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
    service: () => {
      throw new Error('the dashboard uses no service');
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
