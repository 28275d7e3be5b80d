/**
 * Crash and outage behaviour on both backends: a worker killed mid-job, Redis stopped and restarted, and
 * PostgreSQL dropping every queue connection. In each case no job is lost and no job is run to completion
 * twice.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, createFixture, sleep, waitFor, type Fixture } from './support/fixture.js';
import { counts, relPlugin, RELIABILITY_SQL } from './support/reliability-jobs.js';

const here = dirname(fileURLToPath(import.meta.url));
const FAST_RECOVERY = { JOBS_LOCK_DURATION_MS: '2000', JOBS_STALLED_INTERVAL_MS: '1000', JOBS_MAX_STALLED_COUNT: '2', JOBS_DEFAULT_TIMEOUT_MS: '0' };

function startChildWorker(f: Fixture): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support', 'worker-child.ts')], {
    env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: f.databaseUrl, REDIS_URL: f.redisUrl ?? '', JOBS_DIR: f.jobsDir, ...FAST_RECOVERY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child worker did not start')), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`child worker exited with ${code}`)));
  });
}

describe.each(BACKENDS)('reliability on %s', (backend) => {
  let f: Fixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('a worker killed with SIGKILL mid-job: its jobs are recovered as stalled and completed once by another worker', async () => {
    f = await createFixture(backend, 12, { plugins: [relPlugin], env: FAST_RECOVERY });
    await f.db.query(RELIABILITY_SQL);
    const child = await startChildWorker(f);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await f.jobs.enqueue('rel.work', { ms: 4000 })).id);
    // The child runs 5 at once; wait until it is in the middle of them.
    await waitFor(async () => (await f!.db.query('SELECT count(*)::int AS n FROM rel_started WHERE pid = $1', [child.pid])).rows[0]!.n >= 5, 20_000, 'child to start jobs');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect((await counts(f.db)).done).toBe(0);

    await f.jobs.startWorkers(['rel.work']);
    await waitFor(async () => (await counts(f!.db)).done === 10, 60_000, 'all jobs done after the crash');
    const c = await counts(f.db);
    expect(c).toMatchObject({ done: 10, completions: 10, duplicates: 0 });
    // The jobs the child held were started again here.
    const restarted = await f.db.query('SELECT count(DISTINCT job_id)::int AS n FROM rel_started WHERE pid = $1', [process.pid]);
    expect(restarted.rows[0]!.n).toBe(10);
    for (const id of ids) expect((await f.jobs.get('rel.work', id))?.state).toBe('completed');
  }, 120_000);

  if (backend === 'redis') {
    describe('with a private Redis', () => {
      const dir = mkdtempSync(join(tmpdir(), 'nself-redis-'));
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const startRedis = () => {
        // appendfsync always: a stop between two writes must not lose an acknowledged job.
        const r = spawnSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')]);
        if (r.status !== 0) throw new Error(`redis-server failed: ${r.stderr}`);
      };
      const stopRedis = () => spawnSync('redis-cli', ['-p', String(port), 'shutdown']);
      const ping = () => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().includes('PONG');
      afterAll(() => {
        stopRedis();
        rmSync(dir, { recursive: true, force: true });
      });

      it('Redis stopped and restarted during processing: workers resume by themselves and no job is lost', async () => {
        startRedis();
        await waitFor(() => ping(), 10_000, 'private redis');
        f = await createFixture('redis', 0, { plugins: [relPlugin], env: FAST_RECOVERY, redisUrl: `redis://127.0.0.1:${port}/0` });
        await f.db.query(RELIABILITY_SQL);
        await f.jobs.startWorkers(['rel.work']);
        for (let i = 0; i < 40; i++) await f.jobs.enqueue('rel.work', { ms: 150 });
        await waitFor(async () => (await counts(f!.db)).done >= 8, 20_000, 'some progress');
        stopRedis();
        await waitFor(() => !ping(), 10_000, 'redis to stop');
        const doneWhileDown = (await counts(f.db)).done;
        await sleep(2000);
        expect((await counts(f.db)).done - doneWhileDown).toBeLessThanOrEqual(5);
        startRedis();
        await waitFor(async () => (await counts(f!.db)).done === 40, 90_000, 'all 40 jobs after the restart');
        expect(await counts(f.db)).toMatchObject({ done: 40, completions: 40, duplicates: 0 });
        // Jobs whose completion was in flight when Redis went away are recovered as stalled and rerun; their
        // effect is already there, so they complete without a second effect.
        const s = await waitFor(async () => {
          const [x] = await f!.jobs.stats('rel.work');
          return x!.completed === 40 ? x : null;
        }, 30_000, 'BullMQ to mark all 40 completed');
        expect(s).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 40 });
        expect(await counts(f.db)).toMatchObject({ done: 40, completions: 40, duplicates: 0 });
      }, 150_000);
    });
  } else {
    it('PostgreSQL drops every queue connection during processing: workers resume by themselves and no job is lost', async () => {
      f = await createFixture('postgres', 0, { plugins: [relPlugin], env: FAST_RECOVERY });
      await f.db.query(RELIABILITY_SQL);
      await f.jobs.startWorkers(['rel.work']);
      for (let i = 0; i < 40; i++) await f.jobs.enqueue('rel.work', { ms: 150 });
      await waitFor(async () => (await counts(f!.db)).done >= 8, 20_000, 'some progress');
      // Every connection of this database but ours (the test's own pool keeps working).
      const killed = await f.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> 'nself-plugins'`);
      expect(killed.rowCount).toBeGreaterThan(0);
      await waitFor(async () => (await counts(f!.db)).done === 40, 90_000, 'all 40 jobs after the connection loss');
      await waitFor(async () => (await f!.jobs.stats('rel.work'))[0]!.completed === 40, 30_000, 'BullMQ to mark all 40 completed');
      expect(await counts(f.db)).toMatchObject({ done: 40, completions: 40, duplicates: 0 });
    }, 150_000);
  }
});
