/**
 * Job throughput: 10,000 jobs enqueued one by one through the `jobsEnqueue` action (the real dispatcher:
 * secret check, envelope, SDL input validation, handler, schema check, BullMQ add; 50 in flight) and run by
 * the jobs plugin's workers at concurrency 50, against raw BullMQ `addBulk` + a `Worker` at concurrency 50
 * running the same no-op handler. Both on Redis and on BullMQ's PostgreSQL backend, in the same run.
 * Goal ≥ 0.80× raw. Not a test: numbers depend on the machine and on what else runs on it.
 *
 *   npx tsx bench/jobs-throughput.ts [jobs]
 */
import { resolve } from 'node:path';
import type { JobsOptions } from 'bullmq';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { z } from 'zod';
import { Redis } from 'ioredis';
import { createScratchDatabase, REDIS_URL } from '../test/support/db.js';
import { createRuntime, type ServerRuntime } from '../src/core/runtime.js';
import { createDispatcher, SECRET_HEADER } from '../src/core/dispatch.js';
import { definePlugin } from '../src/core/plugin.js';
import { jobsPlugin } from '../src/plugins/jobs/plugin.js';
import { defineJob } from '../src/plugins/jobs/lib/define-job.js';
import { createJobsService } from '../src/plugins/jobs/lib/runtime.js';
import type { JobsConfig } from '../src/plugins/jobs/config.js';

const CONCURRENCY = 50;
const SECRET = 'bench-webhook-secret-0123456789';
const REDIS_DB = 15;

let completed = 0;
const handler = async (): Promise<void> => {
  completed++;
};

const benchJob = defineJob({ name: 'bench.noop', queue: 'bench.ours', concurrency: CONCURRENCY, data: z.object({ i: z.number().int() }), handler });
const benchPlugin = definePlugin({ name: 'bench', version: '0.0.0', description: 'benchmark jobs', jobs: [benchJob] });

const waitUntil = async (pred: () => boolean, what: string, timeoutMs = 300_000) => {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

/** Raw BullMQ: addBulk of every job, a Worker at concurrency 50 already waiting. Jobs/s from first add to last completion. */
async function rawRun(runtime: ServerRuntime, queueName: string, n: number, opts: JobsOptions = {}): Promise<number> {
  const queue = runtime.queue.queue(queueName);
  const worker = runtime.queue.worker(queueName, handler, { concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  completed = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'bench.noop', data: { i: i + k }, opts })));
  }
  await waitUntil(() => completed >= n, 'raw jobs');
  const rate = n / ((performance.now() - t0) / 1000);
  await worker.close();
  await queue.obliterate({ force: true });
  return rate;
}

/** Ours: every job through the jobsEnqueue action, 50 requests in flight; the plugin's workers run them. */
async function oursRun(runtime: ServerRuntime, n: number): Promise<number> {
  const dispatch = createDispatcher(runtime);
  const headers = { [SECRET_HEADER]: SECRET, 'content-type': 'application/json' };
  completed = 0;
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const body = JSON.stringify({
          action: { name: 'jobsEnqueue' },
          input: { name: 'bench.noop', data: { i } },
          session_variables: { 'x-hasura-role': 'service' },
          request_query: 'mutation { jobsEnqueue(name: "bench.noop", data: {}) { id } }',
        });
        const r = await dispatch('action', 'jobsEnqueue', headers, body);
        if (r.status !== 200) failures++;
      }
    }),
  );
  if (failures) throw new Error(`${failures} enqueues failed`);
  await waitUntil(() => completed >= n, 'our jobs');
  const rate = n / ((performance.now() - t0) / 1000);
  await runtime.queue.queue('bench.ours').obliterate({ force: true });
  return rate;
}

/** Ours in bulk: the jobsEnqueueBulk action with 1000 jobs per call (what a producer with many jobs uses). */
async function oursBulkRun(runtime: ServerRuntime, n: number): Promise<number> {
  const dispatch = createDispatcher(runtime);
  const headers = { [SECRET_HEADER]: SECRET, 'content-type': 'application/json' };
  completed = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const jobs = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'bench.noop', data: { i: i + k } }));
    const body = JSON.stringify({
      action: { name: 'jobsEnqueueBulk' },
      input: { jobs },
      session_variables: { 'x-hasura-role': 'service' },
      request_query: 'mutation ($jobs: [JobsEnqueueItem!]!) { jobsEnqueueBulk(jobs: $jobs) { id } }',
    });
    const r = await dispatch('action', 'jobsEnqueueBulk', headers, body);
    if (r.status !== 200) throw new Error(`jobsEnqueueBulk answered ${r.status}: ${r.body.slice(0, 200)}`);
  }
  await waitUntil(() => completed >= n, 'our bulk jobs');
  const rate = n / ((performance.now() - t0) / 1000);
  await runtime.queue.queue('bench.ours').obliterate({ force: true });
  return rate;
}

export interface BackendResult {
  backend: 'redis' | 'postgres';
  rawJobsPerSecond: number;
  oursJobsPerSecond: number;
  ratio: number;
  oursBulkJobsPerSecond: number;
  bulkRatio: number;
  /** Raw BullMQ given the options the plugin sets on every job (attempts, backoff, retention). */
  rawSameOptionsJobsPerSecond: number;
}

async function onBackend(backend: 'redis' | 'postgres', n: number, say: (l: string) => void): Promise<BackendResult> {
  const db = await createScratchDatabase(`bench_jobs_${backend}`);
  const redisUrl = `${REDIS_URL.replace(/\/\d*$/, '')}/${REDIS_DB}`;
  if (backend === 'redis') {
    const r = new Redis(redisUrl);
    await r.flushdb();
    r.disconnect();
  }
  const runtime = await createRuntime(
    {
      DATABASE_URL: db.url,
      ...(backend === 'redis' ? { REDIS_URL: redisUrl } : {}),
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      PLUGINS_ENABLED: 'jobs,bench',
      LOG_LEVEL: 'silent',
      JOBS_DIR: '/nonexistent-jobs-dir',
    },
    { plugins: [jobsPlugin, benchPlugin], log: pino({ level: 'silent' }), defaultMetrics: false },
  );
  const jobs = await createJobsService({
    provider: runtime.queue,
    db: runtime.db,
    log: runtime.log,
    core: runtime.core,
    config: runtime.pluginConfig.get('jobs') as JobsConfig,
    plugins: runtime.plugins,
    pluginConfig: runtime.pluginConfig,
  });
  await jobs.startWorkers(['bench.ours']);
  try {
    // Warm-up: connections, prepared scripts, JIT.
    await rawRun(runtime, 'bench.raw', Math.min(1000, n));
    await oursRun(runtime, Math.min(1000, n));
    await oursBulkRun(runtime, Math.min(1000, n));
    const raw: number[] = [];
    const ours: number[] = [];
    const bulk: number[] = [];
    const rawSame: number[] = [];
    const { jobOptions } = await import('../src/plugins/jobs/lib/enqueue.js');
    const sameOptions = jobOptions(benchJob, {}, jobs.defaults);
    // Interleaved rounds, best of each: the machine's other load hits all of them alike.
    for (let round = 0; round < 3; round++) {
      raw.push(await rawRun(runtime, 'bench.raw', n));
      rawSame.push(await rawRun(runtime, 'bench.raw', n, sameOptions));
      ours.push(await oursRun(runtime, n));
      bulk.push(await oursBulkRun(runtime, n));
    }
    const best = (xs: number[]) => Math.max(...xs);
    const result: BackendResult = {
      backend,
      rawJobsPerSecond: Math.round(best(raw)),
      oursJobsPerSecond: Math.round(best(ours)),
      ratio: best(ours) / best(raw),
      oursBulkJobsPerSecond: Math.round(best(bulk)),
      bulkRatio: best(bulk) / best(raw),
      rawSameOptionsJobsPerSecond: Math.round(best(rawSame)),
    };
    const r = (xs: number[]) => xs.map(Math.round).join(', ');
    say(`${backend.padEnd(8)} raw addBulk+Worker ${result.rawJobsPerSecond} jobs/s [${r(raw)}]; with the plugin's job options (retention, retries) ${result.rawSameOptionsJobsPerSecond} jobs/s [${r(rawSame)}]`);
    say(`${''.padEnd(8)} jobsEnqueue ×${n} (50 in flight) + plugin workers ${result.oursJobsPerSecond} jobs/s [${r(ours)}] → ${result.ratio.toFixed(2)}× raw (goal ≥ 0.80×)`);
    say(`${''.padEnd(8)} jobsEnqueueBulk ×${Math.ceil(n / 1000)} (1000 each) + plugin workers ${result.oursBulkJobsPerSecond} jobs/s [${r(bulk)}] → ${result.bulkRatio.toFixed(2)}× raw`);
    return result;
  } finally {
    await jobs.stopWorkers(5000);
    await runtime.close();
    await db.drop();
  }
}

export async function run(opts: { jobs?: number; log?: (line: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.jobs ?? 10_000;
  say(`jobs throughput: ${n} jobs, concurrency ${CONCURRENCY}`);
  const redis = await onBackend('redis', n, say);
  const postgres = await onBackend('postgres', n, say);
  const pgVsRedis = postgres.oursJobsPerSecond / redis.oursJobsPerSecond;
  say(`PostgreSQL/Redis (ours): ${pgVsRedis.toFixed(2)}×; raw: ${(postgres.rawJobsPerSecond / redis.rawJobsPerSecond).toFixed(2)}×`);
  return { jobs: n, concurrency: CONCURRENCY, redis, postgres, postgresVsRedis: pgVsRedis };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ jobs: process.argv[2] ? Number(process.argv[2]) : undefined });
}
