/**
 * What one idle replica costs PostgreSQL on the PostgreSQL queue backend: the real server with the jobs
 * plugin's workers on every queue, polled by a readiness probe, holds at most four connections (it held
 * nine: a LISTEN connection per worker, one for cancels, and pooled ones kept busy by polling). Cancelling
 * a running job rides on the queues' LISTEN connection, also after that connection dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createRuntime, type ServerRuntime } from '../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../core/server.js';
import { QUEUE_LISTEN_APPLICATION_NAME } from '../../../core/queue.js';
import { ADMIN_DATABASE_URL, createScratchDatabase, type ScratchDatabase } from '../../../../test/support/db.js';
import { jobsPlugin } from '../plugin.js';
import { createJobsService } from '../lib/runtime.js';
import type { JobsService } from '../lib/service.js';
import type { JobsConfig } from '../config.js';
import { waitFor } from './support/fixture.js';
import { testPlugin, track } from './support/test-plugin.js';

const MAX_IDLE_CONNECTIONS = 4;

describe('an idle replica on the PostgreSQL queue backend', () => {
  let db: ScratchDatabase;
  let admin: pg.Client;
  let runtime: ServerRuntime;
  let server: NselfServer;
  let url: string;

  /** Connections to the scratch database, by application_name. */
  async function connections(): Promise<Map<string, number>> {
    const { rows } = await admin.query<{ name: string; n: number }>(
      "SELECT coalesce(application_name, '') AS name, count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 GROUP BY 1",
      [db.name],
    );
    return new Map(rows.map((r) => [r.name, r.n]));
  }
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    db = await createScratchDatabase('jobs_conns');
    admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    runtime = await createRuntime(
      {
        DATABASE_URL: db.url,
        NSELF_PLUGINS_WEBHOOK_SECRET: 'connections-test-webhook-secret',
        PLUGINS_ENABLED: 'jobs,jt',
        JOBS_DIR: join(tmpdir(), 'no-jobs-here'),
        // Stalled-job sweeps every two seconds on every queue: idle, but not silent.
        JOBS_STALLED_INTERVAL_MS: '2000',
      },
      { plugins: [jobsPlugin, testPlugin], log: pino({ level: 'silent' }), defaultMetrics: false },
    );
    const base = runtime.pluginRuntime;
    if (!base('jobs').plugins) {
      (runtime as { pluginRuntime: ServerRuntime['pluginRuntime'] }).pluginRuntime = (name) => ({ ...base(name), plugins: runtime.plugins, pluginConfig: runtime.pluginConfig });
    }
    server = createServer(runtime);
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.shutdown('test over');
    await admin?.end();
    await db?.drop();
  });

  it(`holds at most ${MAX_IDLE_CONNECTIONS} connections while its workers idle and a probe asks /readyz`, async () => {
    const probe = setInterval(() => void fetch(`${url}/readyz`).catch(() => undefined), 1000);
    try {
      await new Promise((r) => setTimeout(r, 3000));
      let most = new Map<string, number>();
      const end = Date.now() + 8000;
      while (Date.now() < end) {
        const m = await connections();
        // One LISTEN connection for the workers of all seven queues, and none named after a worker.
        expect(m.get(QUEUE_LISTEN_APPLICATION_NAME)).toBe(1);
        expect([...m.keys()].filter((n) => n.includes(':w:'))).toEqual([]);
        if (total(m) > total(most)) most = m;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (total(most) > MAX_IDLE_CONNECTIONS) throw new Error(`the idle replica held ${JSON.stringify(Object.fromEntries(most))}`);
      expect(total(most)).toBeLessThanOrEqual(MAX_IDLE_CONNECTIONS);
    } finally {
      clearInterval(probe);
    }
    // Seven workers, every one still found by BullMQ.
    expect(await runtime.queue.queue('jt.slow').getWorkersCount()).toBe(1);
    expect(await runtime.queue.queue('default').getWorkersCount()).toBe(1);
  }, 30_000);

  it('cancels a running job through the shared LISTEN connection, also after that connection dropped', async () => {
    // A second service on the same provider, as a handler's context would use.
    const jobs: JobsService = await createJobsService({
      provider: runtime.queue,
      db: runtime.db,
      log: runtime.log,
      core: runtime.core,
      config: runtime.pluginConfig.get('jobs') as JobsConfig,
      plugins: runtime.plugins,
      pluginConfig: runtime.pluginConfig,
    });
    const cancelRunning = async () => {
      const tag = randomUUID();
      const job = await jobs.enqueue('jt.slow', { tag, ms: 20_000 }, { timeoutMs: 0 });
      await waitFor(async () => (await jobs.get('jt.slow', job.id))?.state === 'active');
      await waitFor(() => track(tag).runs === 1);
      const result = await jobs.cancel('jt.slow', job.id, 'test cancel');
      expect(result).toMatchObject({ previousState: 'active', outcome: 'cancelled' });
      expect(track(tag).signals).toEqual(['cancelled: test cancel']);
    };
    await cancelRunning();
    const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [db.name, QUEUE_LISTEN_APPLICATION_NAME]);
    expect(killed.rowCount).toBe(1);
    await waitFor(async () => (await connections()).get(QUEUE_LISTEN_APPLICATION_NAME) === 1, 10_000, 'a new LISTEN connection');
    await cancelRunning();
  }, 60_000);
});
