/**
 * Deliveries per second to a local receiver that verifies every request with `standardwebhooks`:
 * - plugin: N emits through the webhooks service (message + delivery rows, a job each), the jobs plugin's
 *   workers running `webhooks.deliver` (claim, sign, POST through the SSRF-guarded agent, attempt row), timed
 *   from the first emit until every delivery is recorded as succeeded;
 * - baseline: N raw `undici` POSTs signed with `standardwebhooks`, at the same concurrency as the plugin's
 *   delivery workers (the job's concurrency), through a keep-alive agent.
 * Rounds alternate; medians reported with the ratio plugin / baseline.
 *
 * Run: `npx tsx bench/webhooks-deliver.ts [messages] [rounds]`. BullMQ on Redis database 6 when Redis answers
 * (flushed first), else on PostgreSQL.
 */
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { Agent, request } from 'undici';
import { Webhook } from 'standardwebhooks';
import { createRuntime } from '../src/core/runtime.js';
import { createServer as createNselfServer } from '../src/core/server.js';
import { createScratchDatabase } from '../test/support/db.js';
import { webhooksEmitter } from '../src/plugins/webhooks/lib/service.js';
import { deliverJob } from '../src/plugins/webhooks/lib/jobs.js';
import { freshRedisDb } from './redis.js';

const SECRET = 'bench-webhooks-secret-0123456789abcdef';
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwqaaSeaZVF9c=';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


/** The consumer: verifies each delivery as a consumer would and answers 204. */
function receiver(): Promise<{ server: Server; url: string; count: () => number; failures: () => number }> {
  const wh = new Webhook(WHSEC);
  let ok = 0;
  let bad = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        wh.verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>);
        ok++;
      } catch {
        bad++;
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, count: () => ok, failures: () => bad })),
  );
}

export async function run(opts: { messages?: number; rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.messages ?? 5000;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const concurrency = deliverJob.concurrency ?? 50;
  const rcv = await receiver();
  const db = await createScratchDatabase('bench_webhooks');
  // Diagnostic only: with BENCH_ASYNC_COMMIT=1 no commit of the run waits for the WAL flush, which shows how much
  // of the plugin's time is the durability of the message (the emit's commit) on this machine's disk.
  if (process.env.BENCH_ASYNC_COMMIT) {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`alter database "${db.name}" set synchronous_commit = off`);
    await admin.end();
  }
  const redisUrl = await freshRedisDb(6);
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    JOBS_QUEUES: 'webhooks.deliver',
    PLUGINS_ENABLED: 'core,jobs,webhooks',
    ...(process.env.BENCH_POOL ? { DATABASE_POOL_MAX: process.env.BENCH_POOL } : {}),
    WEBHOOKS_SSRF_ALLOW: '127.0.0.1/32',
  });
  const server = createNselfServer(runtime);
  await server.listen(0, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const webhooks = runtime.pluginRuntime('webhooks');
  const emitter = webhooks.service(webhooksEmitter);
  try {
    await emitter.registerEventTypes([{ name: 'bench.event', description: 'bench' }], 'bench');
    const e = await pool.query<{ id: string }>(`insert into webhooks.endpoint (owner_id, url) values ('bench', $1) returning id`, [rcv.url]);
    await pool.query(`insert into webhooks.endpoint_secret (endpoint_id, scheme, secret) values ($1, 'v1', $2)`, [e.rows[0]!.id, WHSEC]);
    const payload = (i: number) => ({ id: `msg-${i}`, room: 'general', text: 'Hello there, this is a chat message of ordinary length.', at: new Date().toISOString() });

    let lastCpuShare = 0;
    const baseline = async () => {
      const agent = new Agent({ connections: 128, keepAliveTimeout: 10_000 });
      const wh = new Webhook(WHSEC);
      const before = rcv.count();
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = next++; i < n; i = next++) {
            const body = JSON.stringify({ type: 'bench.event', timestamp: new Date().toISOString(), data: payload(i) });
            const id = `msg_${i}_${t}`;
            const now = new Date();
            const res = await request(rcv.url, {
              method: 'POST',
              dispatcher: agent,
              body,
              headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': wh.sign(id, now, body) },
            });
            await res.body.text();
            if (res.statusCode !== 204) throw new Error(`baseline: ${res.statusCode}`);
          }
        }),
      );
      const ms = performance.now() - t;
      await agent.close();
      if (rcv.count() - before !== n) throw new Error('baseline: not every request verified');
      return (n / ms) * 1000;
    };

    const plugin = async () => {
      await pool.query('delete from webhooks.message');
      const cpu = process.cpuUsage();
      const before = rcv.count();
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = next++; i < n; i = next++) await emitter.emit({ type: 'bench.event', payload: payload(i) });
        }),
      );
      if (process.env.BENCH_VERBOSE) say(`emitted ${n} in ${(performance.now() - t).toFixed(0)} ms; delivered by then: ${rcv.count() - before}`);
      for (;;) {
        const r = await pool.query<{ n: number }>(`select count(*)::int as n from webhooks.delivery where status = 'succeeded'`);
        if (r.rows[0]!.n >= n) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const ms = performance.now() - t;
      const used = process.cpuUsage(cpu);
      lastCpuShare = (used.user + used.system) / 1000 / ms;
      const attempts = (await pool.query<{ n: number }>(`select count(*)::int as n from webhooks.attempt where status = 'succeeded'`)).rows[0]!.n;
      if (rcv.count() - before !== n || attempts < n) throw new Error(`plugin: ${rcv.count() - before} verified, ${attempts} attempts for ${n}`);
      return (n / ms) * 1000;
    };

    await baseline();
    const base: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < rounds; i++) {
      base.push(await baseline());
      ours.push(await plugin());
      say(`round ${i + 1}: raw undici + standardwebhooks ${base[i]!.toFixed(0)}/s, plugin ${ours[i]!.toFixed(0)}/s (Node process CPU ${(lastCpuShare * 100).toFixed(0)}% of one core)`);
    }
    if (rcv.failures()) throw new Error(`${rcv.failures()} deliveries failed verification`);
    const ratio = median(ours) / median(base);
    say(
      `${n} deliveries at concurrency ${concurrency} (BullMQ on ${redisUrl ? 'Redis' : 'PostgreSQL'}): raw ${median(base).toFixed(0)}/s, ` +
        `plugin (emit → job → signed POST → attempt row) ${median(ours).toFixed(0)}/s → ${ratio.toFixed(2)}× raw`,
    );
    return { messages: n, concurrency, backend: redisUrl ? 'redis' : 'postgres', rawPerSecond: median(base), pluginPerSecond: median(ours), ratio };
  } finally {
    await pool.end();
    await server.shutdown('bench done');
    await db.drop();
    rcv.server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ messages: Number(process.argv[2] ?? 5000), rounds: Number(process.argv[3] ?? 3) });
}
