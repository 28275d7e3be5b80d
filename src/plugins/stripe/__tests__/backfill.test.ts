/**
 * Backfill and reconcile: the nightly cron backfills through jobs, page by page from a checkpoint; a 429 storm
 * or dropped connections mid-run resume after the last committed page (never from the start), a failed run
 * is never reported as done, and events recorded but never applied are enqueued again.
 */
import pino from 'pino';
import Stripe from 'stripe';
import { startStripe, row, type StripeEnv } from './support/fixture.js';
import { runBackfill, beginRuns } from '../lib/backfill.js';

let env: StripeEnv;
const N = 230;

beforeAll(async () => {
  env = await startStripe('stripe_backfill', { STRIPE_BACKFILL_PAGE_SIZE: '20', STRIPE_BACKFILL_TYPES: 'customer,product' });
  for (let i = 0; i < N; i++) env.fake.customer({ email: `c${i}@example.test` });
  for (let i = 0; i < 5; i++) env.fake.product({ name: `P${i}` });
});
afterAll(async () => {
  await env?.close();
});

const checkpoint = (type: string) => row<{ status: string; cursor: string | null; synced: string; last_error: string | null; run_id: string }>(env.pool, 'SELECT * FROM stripe.sync_checkpoint WHERE object_type = $1', [type]);
const lists = (path: string) => env.fake.requests.filter((r) => r.method === 'GET' && r.path === path && r.status === 200);

/** Polls the checkpoint until `done`, recording every status seen. */
async function untilDone(type: string, timeoutMs = 60_000): Promise<string[]> {
  const seen: string[] = [];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const cp = await checkpoint(type);
    if (cp && seen.at(-1) !== cp.status) seen.push(cp.status);
    if (cp?.status === 'done') return seen;
    if (cp?.status === 'failed' || Date.now() > until) throw new Error(`backfill of ${type} ended ${cp?.status}: ${cp?.last_error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('backfills every object through the reconcile cron, resuming after a 429 storm mid-run', async () => {
  // Two pages go through, then more 429s than the client's own retries: the job backs off and resumes.
  env.fake.rateLimit(4, '/v1/customers', 2);
  await env.harness.fireCron('stripe_reconcile');
  const seen = await untilDone('customer');
  await untilDone('product');
  expect(seen).toContain('retrying');
  const cp = await checkpoint('customer');
  expect(cp).toMatchObject({ status: 'done', synced: String(N), last_error: null });
  expect(Number((await row<{ n: string }>(env.pool, 'SELECT count(*) AS n FROM stripe.customer'))!.n)).toBe(N);
  const pages = lists('/v1/customers');
  // Each page fetched once: the run resumed from its cursor instead of starting over.
  expect(pages.filter((r) => !r.params.starting_after)).toHaveLength(1);
  expect(new Set(pages.map((r) => r.params.starting_after ?? '')).size).toBe(pages.length);
  expect(pages).toHaveLength(Math.ceil(N / 20));
  expect(pages.every((r) => r.params.limit === '20')).toBe(true);
});

it('resumes after dropped connections where it stopped', async () => {
  await env.pool.query(`DELETE FROM stripe.customer`);
  env.fake.requests.length = 0;
  env.fake.drop(3, 4);
  const run = await env.harness.fireCron('stripe_reconcile');
  expect(run).toBeTruthy();
  await untilDone('customer');
  const pages = lists('/v1/customers');
  expect(pages.filter((r) => !r.params.starting_after)).toHaveLength(1);
  expect(new Set(pages.map((r) => r.params.starting_after ?? '')).size).toBe(pages.length);
  expect(Number((await row<{ n: string }>(env.pool, 'SELECT count(*) AS n FROM stripe.customer'))!.n)).toBe(N);
});

it('marks a run failed, not done, when its last attempt fails, and resumes it from the cursor later', async () => {
  const client = new Stripe(env.fake.key, { host: '127.0.0.1', port: env.fake.port, protocol: 'http', maxNetworkRetries: 0 });
  const deps = { db: env.runtime.db, client, log: pino({ level: 'silent' }), pageSize: 50 };
  const [run] = await beginRuns(env.runtime.db, ['customer'], 'manual1');
  env.fake.rateLimit(1000, '/v1/customers', 1);
  await expect(runBackfill('customer', run!.runId, deps, true)).rejects.toThrow();
  const failed = await checkpoint('customer');
  expect(failed).toMatchObject({ status: 'failed', synced: '50' });
  expect(failed!.last_error).toMatch(/too many requests/i);
  env.fake.rateLimit(0);
  // A new run after a failed one starts over under a new id; a run that is still retrying keeps its cursor.
  const [again] = await beginRuns(env.runtime.db, ['customer'], 'manual2');
  expect(again!.runId).toBe('manual2');
  expect((await checkpoint('customer'))!.cursor).toBeNull();
  await env.runtime.db.query(`UPDATE stripe.sync_checkpoint SET status = 'retrying', cursor = $1 WHERE object_type = 'customer'`, [failed!.cursor]);
  const [resumed] = await beginRuns(env.runtime.db, ['customer'], 'manual3');
  expect(resumed!.runId).toBe('manual2');
  env.fake.requests.length = 0;
  const done = await runBackfill('customer', 'manual2', deps, false);
  expect(done.status).toBe('done');
  expect(lists('/v1/customers')[0]!.params.starting_after).toBe(failed!.cursor);
});

it('re-enqueues events recorded but never applied', async () => {
  const c = env.fake.customer({ email: 'stuck@example.test' });
  const ev = env.fake.event('customer.updated', c);
  // As if the process died between recording and enqueueing.
  await env.pool.query(
    `INSERT INTO stripe.event (id, type, object_id, created, data, received_at) VALUES ($1, $2, $3, to_timestamp($4), $5, now() - interval '1 hour')`,
    [ev.id, ev.type, c.id, ev.created, ev],
  );
  await env.harness.fireCron('stripe_reconcile');
  await env.settle();
  // The reconcile also starts a backfill, which may mirror the same customer first; the event is then
  // judged stale (the mirror already holds that state). Either way it left the pending state.
  const { status } = (await row<{ status: string }>(env.pool, 'SELECT status FROM stripe.event WHERE id = $1', [ev.id]))!;
  expect(['applied', 'stale']).toContain(status);
  expect(await row(env.pool, 'SELECT email FROM stripe.customer WHERE id = $1', [c.id])).toEqual({ email: 'stuck@example.test' });
});

describe('webhook endpoint and API reads', () => {
  it('`stripe webhooks ensure` creates the endpoint once, then keeps its event types current', async () => {
    const { runCli } = await import('../../../cli/main.js');
    const { HANDLED_EVENT_TYPES } = await import('../lib/event-types.js');
    const cliEnv = { ...env.fake.env, PUBLIC_URL: 'https://app.example.test' };
    const run = async (args: string[]) => {
      const out: string[] = [];
      const code = await runCli(args, { out: (l) => out.push(l), err: (l) => out.push(l), cwd: process.cwd(), env: cliEnv });
      return { code, out: out.join('\n') };
    };
    const first = await run(['stripe', 'webhooks', 'ensure']);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^created webhook endpoint we_\w+ for https:\/\/app\.example\.test\/hooks\/stripe\/webhook/);
    expect(first.out).toMatch(/STRIPE_WEBHOOK_SECRET=whsec_/);
    const endpoints = [...env.fake.store.get('webhook_endpoints')!.values()];
    expect(endpoints).toHaveLength(1);
    expect([...endpoints[0]!.enabled_events].sort()).toEqual([...HANDLED_EVENT_TYPES].sort());
    expect((await run(['stripe', 'webhooks', 'ensure'])).out).toMatch(/^unchanged/);
    endpoints[0]!.enabled_events = ['customer.created'];
    expect((await run(['stripe', 'webhooks', 'ensure'])).out).toMatch(/^updated/);
    expect(endpoints[0]!.enabled_events).toHaveLength(HANDLED_EVENT_TYPES.length);
    expect(env.fake.store.get('webhook_endpoints')!.size).toBe(1);
    const bad = await run(['stripe', 'webhooks', 'ensure', '--url', 'ftp://x']);
    expect(bad.code).toBe(1);
    const noKey = await runCli(['stripe', 'webhooks', 'ensure'], { out: () => undefined, err: () => undefined, cwd: process.cwd(), env: { PUBLIC_URL: 'https://a.test' } });
    expect(noKey).toBe(1);
  });

  it('refetches an object from the API instead of trusting the payload when configured', async () => {
    const { applyEvent } = await import('../lib/apply.js');
    const { stripeConfig } = await import('../config.js');
    const client = new Stripe(env.fake.key, { host: '127.0.0.1', port: env.fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const config = stripeConfig.parse({ STRIPE_REFETCH_TYPES: 'customer' });
    const c = env.fake.customer({ email: 'current@example.test' });
    const ev = env.fake.event('customer.updated', { ...c, email: 'payload@example.test' });
    await env.pool.query(`INSERT INTO stripe.event (id, type, object_id, created, data) VALUES ($1, $2, $3, to_timestamp($4), $5)`, [ev.id, ev.type, c.id, ev.created, ev]);
    expect(await applyEvent(ev.id, { db: env.runtime.db, client, config, log: pino({ level: 'silent' }) })).toBe('applied');
    expect(await row(env.pool, 'SELECT email FROM stripe.customer WHERE id = $1', [c.id])).toEqual({ email: 'current@example.test' });
    expect(env.fake.requests.some((r) => r.method === 'GET' && r.path === `/v1/customers/${c.id}`)).toBe(true);
    // Applying it again does nothing: the event is done.
    expect(await applyEvent(ev.id, { db: env.runtime.db, client, config, log: pino({ level: 'silent' }) })).toBe('applied');
  });
});
