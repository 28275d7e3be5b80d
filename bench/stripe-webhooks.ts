/**
 * Stripe webhooks and backfill.
 *
 * - Webhooks: N signed events (customer and subscription updates) posted with C in flight to
 *   `/hooks/stripe/webhook` until every one is applied to the mirror (signature verified over the raw body,
 *   recorded once in stripe.event, enqueued, applied by the `stripe.apply-event` job with the out-of-order
 *   guard, entitlements refreshed), against a bare `node:http` server in the same run that verifies the same
 *   signatures with the same library and upserts the same rows through `pg` inline (no ledger, no queue).
 *   Rounds alternate, medians reported.
 * - Backfill: 100,000 customers paged from the strict fake Stripe API into the mirror (resumable backfill,
 *   100 per page), objects per second.
 *
 * Run: `npx tsx bench/stripe-webhooks.ts [events] [rounds] [backfillObjects]`. BullMQ on Redis database 0
 * (`BENCH_REDIS_DB=n` for another).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import Stripe from 'stripe';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { createScratchDatabase } from '../test/support/db.js';
import { FakeStripe, FAKE_WEBHOOK_SECRET } from '../src/plugins/stripe/__tests__/support/fake-stripe.js';
import { beginRuns, runBackfill } from '../src/plugins/stripe/lib/backfill.js';
import { freshRedisDb } from './redis.js';

const SECRET = 'bench-stripe-secret-0123456789abcdef';
/** Redis database 0 (flushed first), or BENCH_REDIS_DB's when the machine's database 0 belongs to other work. */
async function redisDb(): Promise<string> {
  const url = await freshRedisDb(Number(process.env.BENCH_REDIS_DB ?? 0));
  if (!url) throw new Error('this benchmark needs Redis (REDIS_URL)');
  return url;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


/** The baseline: verify, then upsert the same row with the same newer-wins guard, inline. */
function bareServer(pool: pg.Pool): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), String(req.headers['stripe-signature']), FAKE_WEBHOOK_SECRET);
        const o = event.data.object as unknown as { id: string; object: string; customer?: string };
        const table = o.object === 'subscription' ? 'subscription' : 'customer';
        await pool.query(
          `INSERT INTO stripe.${table} AS t (id, customer_id, data, last_event_at) VALUES ($1, $2, $3, to_timestamp($4))
           ON CONFLICT (id) DO UPDATE SET data = excluded.data, last_event_at = excluded.last_event_at WHERE t.last_event_at <= excluded.last_event_at`,
          [o.id, o.object === 'customer' ? o.id : (o.customer ?? null), o, event.created],
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
}

async function post(url: string, bodies: Array<{ payload: string; header: string }>, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const b = bodies[next++]!;
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': b.header }, body: b.payload });
      if (r.status !== 200) throw new Error(`${url}: ${r.status} ${await r.text()}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export async function run(opts: { events?: number; rounds?: number; backfill?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.events ?? 4000;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const backfillN = opts.backfill ?? 100_000;
  const concurrency = 32;
  const fake = await new FakeStripe().start();
  const db = await createScratchDatabase('bench_stripe');
  const baseDb = await createScratchDatabase('bench_stripe_base');
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    REDIS_URL: await redisDb(),
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    PLUGINS_ENABLED: 'core,jobs,stripe',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    JOBS_QUEUES: 'stripe.events,stripe.sync',
    STRIPE_WEBHOOK_SECRET: FAKE_WEBHOOK_SECRET,
    ...fake.env,
  });
  const server = createServer(runtime);
  const { url } = await server.listen(0, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  // The baseline gets the same schema (the plugin's migration) in its own database.
  const baseRuntime = await createRuntime({ DATABASE_URL: baseDb.url, LOG_LEVEL: 'silent', PLUGINS_ENABLED: 'core,jobs,stripe', NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, REDIS_URL: await redisDb() });
  await baseRuntime.close();
  const basePool = new pg.Pool({ connectionString: baseDb.url, max: 10 });
  const bare = bareServer(basePool);
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/hooks/stripe/webhook`;
  try {
    const product = fake.product({ metadata: { features: 'a,b' } });
    const price = fake.price({ product: product.id });
    const make = () => {
      const t0 = Math.floor(Date.now() / 1000);
      return Array.from({ length: n }, (_, i) => {
        const c = fake.customer({ email: `b${i}@example.test` });
        const ev = i % 2 === 0 ? fake.event('customer.updated', c, t0) : fake.event('customer.subscription.updated', fake.subscription({ customer: c.id, price: price.id }), t0);
        const payload = JSON.stringify(ev);
        return { payload, header: Stripe.webhooks.generateTestHeaderString({ payload, secret: FAKE_WEBHOOK_SECRET }) };
      });
    };
    const ours = async () => {
      const bodies = make();
      const cpu = process.cpuUsage();
      const t = performance.now();
      await post(`${url}/hooks/stripe/webhook`, bodies, concurrency);
      const used = process.cpuUsage(cpu);
      if (process.env.BENCH_VERBOSE) {
        say(`  recorded all in ${(performance.now() - t).toFixed(0)} ms (bench process, server and workers included: CPU ${(((used.user + used.system) / 1000 / (performance.now() - t)) * 100).toFixed(0)}% of one core)`);
      }
      for (;;) {
        const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM stripe.event WHERE status = 'pending'`);
        if (r.rows[0]!.n === '0') break;
        await new Promise((res) => setTimeout(res, 5));
      }
      return n / ((performance.now() - t) / 1000);
    };
    const baseline = async () => {
      const bodies = make();
      const t = performance.now();
      await post(bareUrl, bodies, concurrency);
      return n / ((performance.now() - t) / 1000);
    };
    await ours();
    await baseline();
    const oursRates: number[] = [];
    const baseRates: number[] = [];
    for (let i = 0; i < rounds; i++) {
      baseRates.push(await baseline());
      oursRates.push(await ours());
      say(`round ${i + 1}: bare node:http + pg ${baseRates[i]!.toFixed(0)} events/s, plugin (recorded, job-applied) ${oursRates[i]!.toFixed(0)} events/s`);
    }
    const ratio = median(oursRates) / median(baseRates);
    say(`webhooks: plugin ${median(oursRates).toFixed(0)} events/s vs bare ${median(baseRates).toFixed(0)} events/s → ${ratio.toFixed(2)}×`);

    for (let i = 0; i < backfillN; i++) fake.customer({ email: `f${i}@example.test` });
    const client = new Stripe(fake.key, { host: '127.0.0.1', port: fake.port, protocol: 'http', maxNetworkRetries: 2 });
    await pool.query('DELETE FROM stripe.sync_checkpoint');
    const [runInfo] = await beginRuns(runtime.db, ['customer'], 'bench');
    const t = performance.now();
    const cp = await runBackfill('customer', runInfo!.runId, { db: runtime.db, client, log: pino({ level: 'silent' }), pageSize: 100 }, false);
    const secs = (performance.now() - t) / 1000;
    say(`backfill: ${cp.synced} customers in ${secs.toFixed(1)} s → ${(Number(cp.synced) / secs).toFixed(0)} objects/s`);
    return { ratio, oursPerSec: median(oursRates), basePerSec: median(baseRates), backfillPerSec: Number(cp.synced) / secs };
  } finally {
    await pool.end();
    await basePool.end();
    bare.close();
    await server.shutdown('bench done');
    await db.drop();
    await baseDb.drop();
    await fake.stop();
  }
}

if (resolve(fileURLToPath(import.meta.url)) === resolve(process.argv[1] ?? '')) {
  const [events, rounds, backfill] = process.argv.slice(2).map(Number);
  run({ events: events || undefined, rounds: rounds || undefined, backfill: backfill || undefined }).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
