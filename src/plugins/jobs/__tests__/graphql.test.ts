/**
 * The jobs plugin end to end: its manifest and SDL composed into Hasura metadata, the real handler server
 * (dispatcher, start hook with workers, routes), and GraphQL through the Hasura harness with role
 * permissions — on both queue backends.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { composeProject } from '../../../hasura/compose.js';
import { actionsSdlPath, migrationsDir } from '../../../core/paths.js';
import { createRuntime, type ServerRuntime } from '../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../core/server.js';
import { createHasuraHarness, type HasuraHarness } from '../../../testing/index.js';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/db.js';
import { jobsPlugin } from '../plugin.js';
import { BACKENDS, flushRedis, redisUrlFor, waitFor } from './support/fixture.js';
import { testPlugin } from './support/test-plugin.js';

const SECRET = 'graphql-test-webhook-secret';

function composeMetadata(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nself-jobs-hasura-'));
  const files = composeProject({ plugins: [{ manifest: jobsPlugin, sdlPath: actionsSdlPath('jobs') }], migrationsDir });
  for (const [path, text] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

type Q = { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

describe.each(BACKENDS)('jobs through GraphQL on %s', (backend) => {
  let db: ScratchDatabase;
  let runtime: ServerRuntime;
  let server: NselfServer;
  let harness: HasuraHarness;
  let hasuraDir: string;
  let baseUrl: string;
  const redisUrl = redisUrlFor(10);
  const service = { role: 'service' };

  beforeAll(async () => {
    hasuraDir = composeMetadata();
    db = await createScratchDatabase(`jobs_gql_${backend}`);
    if (backend === 'redis') await flushRedis(redisUrl);
    runtime = await createRuntime(
      {
        DATABASE_URL: db.url,
        ...(backend === 'redis' ? { REDIS_URL: redisUrl } : {}),
        NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
        PLUGINS_ENABLED: 'jobs,jt',
        JOBS_DIR: join(hasuraDir, 'no-jobs-here'),
        JOBS_DASHBOARD_USERNAME: 'ops',
        JOBS_DASHBOARD_PASSWORD: 'a-long-password',
      },
      { plugins: [jobsPlugin, testPlugin], log: pino({ level: 'silent' }), defaultMetrics: false },
    );
    // Plugin runtimes carry the enabled plugins and their settings (PluginRuntime.plugins / pluginConfig),
    // which the jobs plugin's start hook needs to register other plugins' jobs. Supplied here until
    // createRuntime fills them itself.
    const base = runtime.pluginRuntime;
    if (!base('jobs').plugins) {
      (runtime as { pluginRuntime: ServerRuntime['pluginRuntime'] }).pluginRuntime = (name) => ({ ...base(name), plugins: runtime.plugins, pluginConfig: runtime.pluginConfig });
    }
    server = createServer(runtime);
    ({ url: baseUrl } = await server.listen(0, '127.0.0.1'));
    harness = await createHasuraHarness({ databaseUrl: db.url, metadataDir: join(hasuraDir, 'metadata'), handlerBaseUrl: baseUrl, env: { NSELF_PLUGINS_WEBHOOK_SECRET: SECRET } });
  });
  afterAll(async () => {
    await harness?.close();
    await server?.shutdown('test over');
    await db?.drop();
    if (backend === 'redis') await flushRedis(redisUrl);
    rmSync(hasuraDir, { recursive: true, force: true });
  });

  const gql = (doc: string, vars?: Record<string, unknown>, session: Record<string, unknown> | null = service) =>
    harness.graphql(doc, vars, session as never) as Promise<Q>;

  it('enqueues as the service role and reads the finished job back', async () => {
    const r = await gql(`mutation ($d: jsonb) { jobsEnqueue(name: "jt.echo", data: $d, options: { priority: 5 }) { id queue name state maxAttempts } }`, { d: { tag: 'gql', label: 'through hasura' } });
    expect(r.errors).toBeUndefined();
    const job = r.data!.jobsEnqueue;
    expect(job).toMatchObject({ queue: 'default', name: 'jt.echo', state: 'prioritized', maxAttempts: 3 });
    const done = await waitFor(async () => {
      const g = await gql(`query ($id: String!) { jobsGet(queue: "default", id: $id) { state returnValue attemptsMade finishedAt } }`, { id: job.id });
      return g.data?.jobsGet?.state === 'completed' ? g.data.jobsGet : null;
    });
    expect(done.returnValue).toEqual({ echoed: 'through hasura', attempt: 1 });
    const bulk = await gql(`mutation ($jobs: [JobsEnqueueItem!]!) { jobsEnqueueBulk(jobs: $jobs) { queue name state } }`, {
      jobs: [{ name: 'jt.echo', data: { tag: 'gql-bulk' } }, { name: 'jt.serial', data: { tag: 'gql-bulk', label: 'x' }, options: { delayMs: 60000 } }],
    });
    expect(bulk.data!.jobsEnqueueBulk).toEqual([
      { queue: 'default', name: 'jt.echo', state: 'waiting' },
      { queue: 'jt.serial', name: 'jt.serial', state: 'delayed' },
    ]);
    const stats = await gql(`query { jobsStats { queue completed paused } }`);
    expect(stats.data!.jobsStats.map((s: { queue: string }) => s.queue)).toEqual(['default', 'high-priority', 'low-priority', 'scheduled', 'jt.limited', 'jt.serial', 'jt.slow']);
  });

  it('answers clear 4xx errors for unknown jobs, bad data, bad cron and bad time zones', async () => {
    const unknown = await gql(`mutation { jobsEnqueue(name: "no.such.job", data: {}) { id } }`);
    expect(unknown.errors![0]).toMatchObject({ extensions: { code: 'jobs/unknown-job' } });
    const bad = await gql(`mutation { jobsEnqueue(name: "jt.echo", data: { tag: 5 }) { id } }`);
    expect(bad.errors![0]).toMatchObject({ extensions: { code: 'jobs/invalid-data' } });
    const cron = await gql(`mutation { jobsSchedule(name: "jt.echo", cron: "0 25 * * *", data: { tag: "x" }) { id } }`);
    expect(cron.errors![0]).toMatchObject({ extensions: { code: 'jobs/invalid-cron' } });
    const tz = await gql(`mutation { jobsSchedule(name: "jt.echo", cron: "0 5 * * *", timezone: "Europe/Atlantis", data: { tag: "x" }) { id } }`);
    expect(tz.errors![0]).toMatchObject({ extensions: { code: 'jobs/invalid-timezone' } });
    const ok = await gql(`mutation { jobsSchedule(name: "jt.echo", cron: "0 5 * * *", timezone: "Europe/Berlin", data: { tag: "x" }, id: "gql-sched") { id timezone nextRunAt } }`);
    expect(ok.data!.jobsSchedule).toMatchObject({ id: 'gql-sched', timezone: 'Europe/Berlin' });
    const list = await gql(`query { jobsSchedules { id cron fromCode } }`);
    expect(list.data!.jobsSchedules).toEqual([{ id: 'gql-sched', cron: '0 5 * * *', fromCode: false }]);
    expect((await gql(`mutation { jobsUnschedule(id: "gql-sched") { removed } }`)).data!.jobsUnschedule).toEqual({ removed: true });
  });

  it('takes runAt as Hasura forwards a timestamptz: a text without a zone is UTC; infinity and tomorrow are a clear 4xx', async () => {
    // Hasura forwards any string for a timestamptz argument (parsePGValue); the plugin judges it.
    const at = Math.floor((Date.now() + 3_600_000) / 1000) * 1000;
    const text = new Date(at).toISOString().replace('T', ' ').replace('.000Z', '');
    const enqueue = `mutation ($at: timestamptz) { jobsEnqueue(name: "jt.echo", data: { tag: "later" }, options: { runAt: $at }) { id state delayMs createdAt } }`;
    const r = await gql(enqueue, { at: text });
    expect(r.errors).toBeUndefined();
    const job = r.data!.jobsEnqueue;
    expect(job.state).toBe('delayed');
    expect(Math.abs(Date.parse(job.createdAt) + job.delayMs - at)).toBeLessThan(2_000);
    for (const bad of ['infinity', 'tomorrow', '2024-02-30 10:00']) {
      const b = await gql(enqueue, { at: bad });
      expect(b.errors![0]).toMatchObject({ extensions: { code: 'jobs/invalid-input' } });
    }
    expect((await gql(`mutation ($id: String!) { jobsCancel(queue: "default", id: $id) { outcome } }`, { id: job.id })).data!.jobsCancel).toEqual({ outcome: 'removed' });
  });

  it('hides the actions from other roles and keeps draining to admin', async () => {
    const user = await gql(`mutation { jobsEnqueue(name: "jt.echo", data: {}) { id } }`, undefined, { role: 'user', userId: '7' });
    expect(user.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const drainAsService = await gql(`mutation { jobsDrainQueue(queue: "low-priority") { removed } }`);
    expect(drainAsService.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const drainAsAdmin = await gql(`mutation { jobsDrainQueue(queue: "low-priority") { queue removed } }`, undefined, null);
    expect(drainAsAdmin.data!.jobsDrainQueue).toEqual({ queue: 'low-priority', removed: 0 });
  });

  it('lets the service role read the dead-letter history through Hasura', async () => {
    const r = await gql(`mutation { jobsEnqueue(name: "jt.fatal", data: { tag: "dl" }) { id } }`);
    const id = r.data!.jobsEnqueue.id as string;
    const rows = await waitFor(async () => {
      const x = await harness.select('service', null, { schema: 'jobs', name: 'dead_letter' }, { job_id: { _eq: id } });
      return x.length ? x : null;
    });
    expect(rows[0]).toMatchObject({ queue: 'default', name: 'jt.fatal', failed_reason: 'card declined for good', attempts_made: 1 });
    expect(await harness.hasSelectPermission('user', { schema: 'jobs', name: 'dead_letter' })).toBe(false);
  });

  it('runs its maintenance crons', async () => {
    expect(await harness.fireCron('jobs_clean_finished')).toMatchObject({ status: 'delivered' });
    expect(await harness.fireCron('jobs_prune_dead_letters')).toMatchObject({ status: 'delivered' });
  });

  it('serves the dashboard at /admin/jobs behind its guard', async () => {
    expect((await fetch(`${baseUrl}/admin/jobs/`)).status).toBe(401);
    const ok = await fetch(`${baseUrl}/admin/jobs/api/queues`, { headers: { authorization: 'Basic ' + Buffer.from('ops:a-long-password').toString('base64') } });
    expect(ok.status).toBe(200);
    expect((await fetch(`${baseUrl}/hooks/jobs/`)).status).toBe(404);
  });
});
