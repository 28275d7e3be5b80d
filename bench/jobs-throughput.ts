/**
 * Job throughput: 10,000 jobs enqueued one by one through the `jobsEnqueue` action as Hasura calls it
 * (`POST /actions/jobsEnqueue` with the secret header, to the real server listening on a port: listener,
 * secret check, envelope, SDL input validation, handler, schema check, BullMQ add; 50 requests in flight,
 * sent by a load generator in a process of its own) and run by the jobs plugin's workers at concurrency 50,
 * against raw BullMQ `addBulk` + a `Worker` at concurrency 50 running the same no-op handler. Between the
 * two, a bare `node:http` server that does nothing but parse the body and `Queue.add` it, through the same
 * load generator: what HTTP alone costs. Both on Redis and on BullMQ's PostgreSQL backend, in the same run.
 * Goal ≥ 0.80× raw. Not a test: numbers depend on the machine and on what else runs on it. The server and
 * the workers share this process (as in one replica), so its CPU per job is theirs; the load generator's
 * is not counted, as Hasura's would not be.
 *
 * Raw runs twice: as BullMQ comes (finished jobs kept forever, so it never deletes one while timed) and
 * with the options the plugin sets on every job (attempts, backoff, and the retention that keeps Redis
 * bounded, which makes the backend delete a finished job for each one that finishes). The second is the
 * like-for-like baseline; both ratios are reported. Variants alternate round by round and medians are
 * reported, with the CPU time each job cost the Node process and the queue backend (Redis server, or the
 * PostgreSQL backends of the scratch database), which says more than wall time on a busy machine.
 *
 *   npx tsx bench/jobs-throughput.ts [jobs] [rounds]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { JobsOptions } from 'bullmq';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { Redis } from 'ioredis';
import { createScratchDatabase, REDIS_URL } from '../test/support/db.js';
import { createRuntime, type ServerRuntime } from '../src/core/runtime.js';
import { createServer, type NselfServer } from '../src/core/server.js';
import { SECRET_HEADER } from '../src/core/dispatch.js';
import { definePlugin } from '../src/core/plugin.js';
import { jobsPlugin } from '../src/plugins/jobs/plugin.js';
import { defineJob } from '../src/plugins/jobs/lib/define-job.js';
import { jobOptions } from '../src/plugins/jobs/lib/enqueue.js';
import { jobsService } from '../src/plugins/jobs/lib/runtime.js';
import type { JobsService } from '../src/plugins/jobs/lib/service.js';
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

/** CPU seconds the queue backend has used so far, or null where it cannot be read (remote server, no /proc). */
type BackendCpu = () => Promise<number | null>;

function procCpuSeconds(pid: number): number | null {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz on Linux).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

function redisCpu(redis: Redis): BackendCpu {
  return async () => {
    const info = await redis.info('cpu');
    const get = (k: string) => Number(info.match(new RegExp(`^${k}:([\\d.]+)`, 'm'))?.[1] ?? NaN);
    const total = get('used_cpu_sys') + get('used_cpu_user');
    return Number.isFinite(total) ? total : null;
  };
}

/** PostgreSQL: the server processes serving the scratch database (BullMQ's pools, the cancel listener, …). */
function postgresCpu(client: pg.Client): BackendCpu {
  const seen = new Map<number, number>();
  return async () => {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    for (const { pid } of rows) {
      const s = procCpuSeconds(pid);
      if (s === null) return null;
      seen.set(pid, s);
    }
    // Backends that ended keep their last reading, so a closed connection does not make time run backwards.
    let total = 0;
    for (const s of seen.values()) total += s;
    return total;
  };
}

interface Sample {
  jobsPerSecond: number;
  /** µs of Node CPU per job. */
  nodeUs: number;
  /** µs of queue-backend CPU per job, when readable. */
  backendUs: number | null;
}

async function measure(n: number, backendCpu: BackendCpu, timed: () => Promise<void>): Promise<Sample> {
  const b0 = await backendCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await timed();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const b1 = await backendCpu();
  return {
    jobsPerSecond: n / seconds,
    nodeUs: (c.user + c.system) / n,
    backendUs: b0 === null || b1 === null ? null : ((b1 - b0) * 1e6) / n,
  };
}

/** Raw BullMQ: addBulk of every job, a Worker at concurrency 50 already waiting. From first add to last completion. */
async function rawRun(runtime: ServerRuntime, n: number, cpu: BackendCpu, opts: JobsOptions = {}): Promise<Sample> {
  const queue = runtime.queue.queue('bench.raw');
  const worker = runtime.queue.worker('bench.raw', handler, { concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  completed = 0;
  const s = await measure(n, cpu, async () => {
    for (let i = 0; i < n; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'bench.noop', data: { i: i + k }, opts })));
    }
    await waitUntil(() => completed >= n, 'raw jobs');
  });
  await worker.close();
  await queue.obliterate({ force: true });
  return s;
}

/* ------------------------------------------------------------------ load generator (its own process) */

type LoadKind = 'enqueue' | 'bulk' | 'bare';

/**
 * The requests of one run, sent by `bench/jobs-throughput.ts --load` in a child process: `jobsEnqueue` one
 * job per request with 50 in flight, `jobsEnqueueBulk` 1000 jobs per request one after another, or the
 * bare server's plain body. Keep-alive connections, as Hasura's HTTP client keeps them.
 */
async function generateLoad(baseUrl: string, kind: LoadKind, n: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const post = (path: string, body: string) =>
    new Promise<number>((resolveStatus, reject) => {
      const req = request(
        `${baseUrl}${path}`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [SECRET_HEADER]: SECRET } },
        (res) => {
          res.resume();
          res.on('end', () => resolveStatus(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  let failures = 0;
  if (kind === 'bulk') {
    for (let i = 0; i < n; i += 1000) {
      const jobs = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'bench.noop', data: { i: i + k } }));
      const body = JSON.stringify({
        action: { name: 'jobsEnqueueBulk' },
        input: { jobs },
        session_variables: { 'x-hasura-role': 'service' },
        request_query: 'mutation ($jobs: [JobsEnqueueItem!]!) { jobsEnqueueBulk(jobs: $jobs) { id } }',
      });
      if ((await post('/actions/jobsEnqueueBulk', body)) !== 200) failures++;
    }
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const i = next++;
          const body =
            kind === 'bare'
              ? JSON.stringify({ name: 'bench.noop', data: { i } })
              : JSON.stringify({
                  action: { name: 'jobsEnqueue' },
                  input: { name: 'bench.noop', data: { i } },
                  session_variables: { 'x-hasura-role': 'service' },
                  request_query: 'mutation { jobsEnqueue(name: "bench.noop", data: {}) { id } }',
                });
          if ((await post(kind === 'bare' ? '/add' : '/actions/jobsEnqueue', body)) !== 200) failures++;
        }
      }),
    );
  }
  agent.destroy();
  return failures;
}

/** The load generator, started once per backend and told what to send for each run. */
class LoadGenerator {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  constructor() {
    this.child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--load'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  /** Sends `n` jobs of `kind` to `url`; resolves when every request has been answered. */
  async run(url: string, kind: LoadKind, n: number): Promise<void> {
    this.child.stdin!.write(`${url} ${kind} ${n}\n`);
    const { value } = await this.lines.next();
    const failures = Number(/^DONE (\d+)$/.exec(String(value))?.[1] ?? NaN);
    if (failures !== 0) throw new Error(`load generator: ${value}`);
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

/** What the child process does: one run per line on stdin, `DONE <failures>` on stdout after each. */
async function loadGeneratorMain(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    const [url, kind, n] = line.trim().split(' ');
    const failures = await generateLoad(url!, kind as LoadKind, Number(n));
    process.stdout.write(`DONE ${failures}\n`);
  }
}

/** Ours: every job through the jobsEnqueue action over HTTP, 50 requests in flight; the plugin's workers run them. */
async function oursRun(runtime: ServerRuntime, url: string, gen: LoadGenerator, n: number, cpu: BackendCpu): Promise<Sample> {
  completed = 0;
  const s = await measure(n, cpu, async () => {
    await gen.run(url, 'enqueue', n);
    await waitUntil(() => completed >= n, 'our jobs');
  });
  await runtime.queue.queue('bench.ours').obliterate({ force: true });
  return s;
}

/** Ours in bulk: the jobsEnqueueBulk action over HTTP with 1000 jobs per call (what a producer with many jobs uses). */
async function oursBulkRun(runtime: ServerRuntime, url: string, gen: LoadGenerator, n: number, cpu: BackendCpu): Promise<Sample> {
  completed = 0;
  const s = await measure(n, cpu, async () => {
    await gen.run(url, 'bulk', n);
    await waitUntil(() => completed >= n, 'our bulk jobs');
  });
  await runtime.queue.queue('bench.ours').obliterate({ force: true });
  return s;
}

/**
 * A bare `node:http` server in front of raw BullMQ: parse the JSON body, `Queue.add` it with the plugin's
 * job options, answer 200 with the id. The floor for "a job enqueued over HTTP", with none of the plugin's
 * checks.
 */
async function startBareServer(runtime: ServerRuntime, opts: JobsOptions): Promise<{ url: string; server: Server }> {
  const queue = runtime.queue.queue('bench.bare');
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { name, data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string; data: unknown };
      queue.add(name, data, opts).then(
        (job) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: job.id }));
        },
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function bareRun(runtime: ServerRuntime, url: string, gen: LoadGenerator, n: number, cpu: BackendCpu): Promise<Sample> {
  const queue = runtime.queue.queue('bench.bare');
  const worker = runtime.queue.worker('bench.bare', handler, { concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  completed = 0;
  const s = await measure(n, cpu, async () => {
    await gen.run(url, 'bare', n);
    await waitUntil(() => completed >= n, 'bare HTTP jobs');
  });
  await worker.close();
  await queue.obliterate({ force: true });
  return s;
}

export interface VariantResult {
  /** Medians over the rounds. */
  jobsPerSecond: number;
  nodeCpuUsPerJob: number;
  backendCpuUsPerJob: number | null;
  rounds: Sample[];
}

export interface BackendResult {
  backend: 'redis' | 'postgres';
  /** Raw BullMQ as it comes (finished jobs kept). */
  raw: VariantResult;
  /** Raw BullMQ with the options the plugin sets on every job (attempts, backoff, retention). */
  rawSameOptions: VariantResult;
  /** A bare node:http server doing Queue.add per request, through the same load generator. */
  bareHttp: VariantResult;
  ours: VariantResult;
  oursBulk: VariantResult;
  /** Median throughput of ours over raw, over raw with the same options, and over the bare HTTP server. */
  ratio: number;
  ratioSameOptions: number;
  ratioBareHttp: number;
  bulkRatio: number;
  /** Raw's CPU per job over ours' (Node plus backend where known): 1 = the plugin costs nothing extra. */
  cpuRatio: number;
  cpuRatioSameOptions: number;
  loadAverage: { before: number[]; after: number[] };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function summarise(rounds: Sample[]): VariantResult {
  const backend = rounds.map((r) => r.backendUs);
  return {
    jobsPerSecond: median(rounds.map((r) => r.jobsPerSecond)),
    nodeCpuUsPerJob: median(rounds.map((r) => r.nodeUs)),
    backendCpuUsPerJob: backend.every((b): b is number => b !== null) ? median(backend) : null,
    rounds,
  };
}

const totalCpu = (v: VariantResult) => v.nodeCpuUsPerJob + (v.backendCpuUsPerJob ?? 0);

async function onBackend(backend: 'redis' | 'postgres', n: number, rounds: number, say: (l: string) => void): Promise<BackendResult> {
  const before = loadavg();
  const db = await createScratchDatabase(`bench_jobs_${backend}`);
  const redisUrl = `${REDIS_URL.replace(/\/\d*$/, '')}/${REDIS_DB}`;
  const probe = backend === 'redis' ? new Redis(redisUrl) : null;
  const pgProbe = backend === 'postgres' ? new pg.Client({ connectionString: db.url }) : null;
  await probe?.flushdb();
  await pgProbe?.connect();
  const cpu = probe ? redisCpu(probe) : postgresCpu(pgProbe!);
  const gen = new LoadGenerator();
  const runtime = await createRuntime(
    {
      DATABASE_URL: db.url,
      ...(backend === 'redis' ? { REDIS_URL: redisUrl } : {}),
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      PLUGINS_ENABLED: 'jobs,bench',
      LOG_LEVEL: 'silent',
      JOBS_DIR: '/nonexistent-jobs-dir',
      // The plugin's own start hook runs the workers, on the benchmark's queue only.
      JOBS_QUEUES: 'bench.ours',
    },
    { plugins: [jobsPlugin, benchPlugin], log: pino({ level: 'silent' }), defaultMetrics: false },
  );
  let jobs: JobsService | undefined;
  let server: NselfServer | undefined;
  let bare: Server | undefined;
  try {
    // The start hook registers the jobs of the enabled plugins from its runtime (filled here where the core
    // does not yet hand them over).
    const base = runtime.pluginRuntime;
    if (!base('jobs').plugins) {
      (runtime as { pluginRuntime: ServerRuntime['pluginRuntime'] }).pluginRuntime = (name) => ({ ...base(name), plugins: runtime.plugins, pluginConfig: runtime.pluginConfig });
    }
    // The real server on a port, as Hasura calls it; its start hooks run the jobs plugin's workers.
    server = createServer(runtime);
    const { url } = await server.listen(0, '127.0.0.1');
    jobs = runtime.pluginRuntime('jobs').service(jobsService);
    if (jobs.workingQueues.join() !== 'bench.ours') throw new Error(`unexpected workers: ${jobs.workingQueues.join(', ')}`);
    const sameOptions = jobOptions(benchJob, {}, jobs.defaults);
    let bareUrl: string;
    ({ url: bareUrl, server: bare } = await startBareServer(runtime, sameOptions));
    // Warm-up: connections, prepared scripts, JIT.
    const warm = Math.min(1000, n);
    await rawRun(runtime, warm, cpu);
    await rawRun(runtime, warm, cpu, sameOptions);
    await bareRun(runtime, bareUrl, gen, warm, cpu);
    await oursRun(runtime, url, gen, warm, cpu);
    await oursBulkRun(runtime, url, gen, warm, cpu);
    const raw: Sample[] = [];
    const rawSame: Sample[] = [];
    const bareHttp: Sample[] = [];
    const ours: Sample[] = [];
    const bulk: Sample[] = [];
    // Interleaved rounds: the machine's other load hits every variant alike.
    for (let round = 0; round < rounds; round++) {
      raw.push(await rawRun(runtime, n, cpu));
      rawSame.push(await rawRun(runtime, n, cpu, sameOptions));
      bareHttp.push(await bareRun(runtime, bareUrl, gen, n, cpu));
      ours.push(await oursRun(runtime, url, gen, n, cpu));
      bulk.push(await oursBulkRun(runtime, url, gen, n, cpu));
    }
    const r: BackendResult = {
      backend,
      raw: summarise(raw),
      rawSameOptions: summarise(rawSame),
      bareHttp: summarise(bareHttp),
      ours: summarise(ours),
      oursBulk: summarise(bulk),
      ratio: 0,
      ratioSameOptions: 0,
      ratioBareHttp: 0,
      bulkRatio: 0,
      cpuRatio: 0,
      cpuRatioSameOptions: 0,
      loadAverage: { before, after: loadavg() },
    };
    r.ratio = r.ours.jobsPerSecond / r.raw.jobsPerSecond;
    r.ratioSameOptions = r.ours.jobsPerSecond / r.rawSameOptions.jobsPerSecond;
    r.ratioBareHttp = r.ours.jobsPerSecond / r.bareHttp.jobsPerSecond;
    r.bulkRatio = r.oursBulk.jobsPerSecond / r.raw.jobsPerSecond;
    r.cpuRatio = totalCpu(r.raw) / totalCpu(r.ours);
    r.cpuRatioSameOptions = totalCpu(r.rawSameOptions) / totalCpu(r.ours);

    const line = (label: string, v: VariantResult) => {
      const cpuText = `CPU/job node ${v.nodeCpuUsPerJob.toFixed(0)} µs` + (v.backendCpuUsPerJob === null ? '' : ` + ${backend} ${v.backendCpuUsPerJob.toFixed(0)} µs`);
      say(`  ${label.padEnd(44)} ${String(Math.round(v.jobsPerSecond)).padStart(6)} jobs/s [${v.rounds.map((s) => Math.round(s.jobsPerSecond)).join(', ')}]  ${cpuText}`);
    };
    const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
    say(`${backend} (load average ${fmt(before)} before, ${fmt(r.loadAverage.after)} after; medians of ${rounds})`);
    line('raw addBulk+Worker', r.raw);
    line("raw, the plugin's job options (retention…)", r.rawSameOptions);
    line(`bare node:http + Queue.add ×${n} (50 in flight)`, r.bareHttp);
    line(`POST /actions/jobsEnqueue ×${n} (50 in flight)`, r.ours);
    line(`POST /actions/jobsEnqueueBulk ×${Math.ceil(n / 1000)} (1000 each)`, r.oursBulk);
    say(
      `  jobsEnqueue over HTTP: ${r.ratio.toFixed(2)}× raw, ${r.ratioSameOptions.toFixed(2)}× raw with the same options (goal ≥ 0.80×), ` +
        `${r.ratioBareHttp.toFixed(2)}× the bare HTTP server; CPU per job: raw/ours ${r.cpuRatio.toFixed(2)}, same options ${r.cpuRatioSameOptions.toFixed(2)}; bulk ${r.bulkRatio.toFixed(2)}× raw`,
    );
    return r;
  } finally {
    gen.stop();
    await new Promise((r) => (bare ? bare.close(r) : r(undefined)));
    if (server) await server.shutdown('bench over');
    else await runtime.close();
    probe?.disconnect();
    await pgProbe?.end();
    await db.drop();
  }
}

export async function run(opts: { jobs?: number; rounds?: number; log?: (line: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.jobs ?? 10_000;
  const rounds = Math.max(3, opts.rounds ?? 3);
  say(`jobs throughput: ${n} jobs, concurrency ${CONCURRENCY}`);
  const redis = await onBackend('redis', n, rounds, say);
  const postgres = await onBackend('postgres', n, rounds, say);
  const pgVsRedis = postgres.ours.jobsPerSecond / redis.ours.jobsPerSecond;
  say(`PostgreSQL/Redis (ours): ${pgVsRedis.toFixed(2)}×; raw: ${(postgres.raw.jobsPerSecond / redis.raw.jobsPerSecond).toFixed(2)}×`);
  return { jobs: n, concurrency: CONCURRENCY, rounds, redis, postgres, postgresVsRedis: pgVsRedis };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--load') await loadGeneratorMain();
  else await run({ jobs: process.argv[2] ? Number(process.argv[2]) : undefined, rounds: process.argv[3] ? Number(process.argv[3]) : undefined });
}
