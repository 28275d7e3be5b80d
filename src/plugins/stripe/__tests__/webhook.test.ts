/**
 * Webhooks: verified over the raw body, recorded once per event id, applied by a job; events replayed in
 * shuffled orders and duplicated end on the newest state; bad deliveries change nothing.
 */
import Stripe from 'stripe';
import { startStripe, row, linkedCustomer, type StripeEnv } from './support/fixture.js';
import { FAKE_WEBHOOK_SECRET } from './support/fake-stripe.js';

let env: StripeEnv;
beforeAll(async () => {
  env = await startStripe('stripe_webhook');
});
afterAll(async () => {
  await env?.close();
});

const count = async (sql: string, params: unknown[] = []) => Number((await env.pool.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) s`, params)).rows[0]!.n);

/** A deterministic shuffle (seeded), so a failure reproduces. */
function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('verification', () => {
  it('records and applies a correctly signed event', async () => {
    const c = env.fake.customer({ email: 'a@example.test' });
    const ev = env.fake.event('customer.created', c);
    const res = await env.deliver(ev);
    expect(res).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await env.settle();
    expect(await row(env.pool, 'SELECT status FROM stripe.event WHERE id = $1', [ev.id])).toEqual({ status: 'applied' });
    expect(await row(env.pool, 'SELECT email, deleted FROM stripe.customer WHERE id = $1', [c.id])).toEqual({ email: 'a@example.test', deleted: false });
  });

  it('refuses unsigned, wrongly signed, altered and stale deliveries, recording nothing', async () => {
    const before = await count('SELECT 1 FROM stripe.event');
    const ev = env.fake.event('customer.created', env.fake.customer());
    const unsigned = await env.deliver(ev, { header: null });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.extensions.code).toBe('stripe/unsigned');
    const wrong = await env.deliver(ev, { secret: 'whsec_someoneElsesSecret000' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.extensions.code).toBe('stripe/bad-signature');
    const payload = JSON.stringify(ev);
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: FAKE_WEBHOOK_SECRET });
    const altered = await fetch(`${env.url}/hooks/stripe/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      body: payload.replace('"livemode":false', '"livemode":true'),
    });
    expect(altered.status).toBe(400);
    const stale = await env.deliver(ev, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(400);
    expect(stale.body.message).toMatch(/tolerance/i);
    const garbage = await env.deliver(ev, { header: 't=1,v1=deadbeef' });
    expect(garbage.status).toBe(400);
    expect(await count('SELECT 1 FROM stripe.event')).toBe(before);
  });

  it('refuses a signed body that is not an event, and an oversize body', async () => {
    const res = await env.deliver({ hello: 'world' });
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('stripe/malformed-event');
    const big = env.fake.event('customer.updated', { ...env.fake.customer(), description: 'x'.repeat(2 * 1024 * 1024) });
    const tooBig = await env.deliver(big).catch((e) => ({ status: 0, body: String(e) }));
    expect([413, 0]).toContain(tooBig.status);
  });

  it('records a replayed event once and applies it once', async () => {
    const c = env.fake.customer();
    const ev = env.fake.event('customer.created', c);
    const first = await env.deliver(ev);
    const again = await Promise.all([env.deliver(ev), env.deliver(ev), env.deliver(ev)]);
    expect(first.body.duplicate).toBe(false);
    for (const r of again) expect(r).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await env.settle();
    expect(await count('SELECT 1 FROM stripe.event WHERE id = $1', [ev.id])).toBe(1);
    expect(await row(env.pool, 'SELECT status FROM stripe.event WHERE id = $1', [ev.id])).toEqual({ status: 'applied' });
  });

  it('records unknown event types and ignores them with a reason', async () => {
    const ev = env.fake.event('issuing_card.created', { id: 'ic_123', object: 'issuing.card', created: 1 });
    expect((await env.deliver(ev)).status).toBe(200);
    await env.settle();
    expect(await row(env.pool, 'SELECT status, reason FROM stripe.event WHERE id = $1', [ev.id])).toEqual({
      status: 'ignored',
      reason: 'object type issuing.card is not mirrored',
    });
  });
});

describe('out-of-order safety', () => {
  it('ends on the newest subscription state whatever the order, with duplicates', async () => {
    const user = 'ooo-user';
    const customer = await linkedCustomer(env, user);
    const product = env.fake.product({ name: 'Team', metadata: { features: 'sso,audit-log', plan: 'team' } });
    const price = env.fake.price({ product: product.id });
    await env.deliver(env.fake.event('product.created', product));
    await env.deliver(env.fake.event('price.created', price));
    const sub = env.fake.subscription({ customer: customer.id, price: price.id, status: 'incomplete' });
    const t0 = Math.floor(Date.now() / 1000) - 100;
    const states: Array<[string, Partial<Stripe.Subscription>]> = [
      ['customer.subscription.created', { status: 'incomplete' }],
      ['customer.subscription.updated', { status: 'active' }],
      ['customer.subscription.updated', { status: 'past_due' }],
      ['customer.subscription.updated', { status: 'active' }],
      ['customer.subscription.updated', { status: 'active', cancel_at_period_end: true }],
    ];
    for (const seed of [1, 2, 3]) {
      // Each round starts from an empty mirror row, with events of their own (new ids, same times).
      await env.pool.query('DELETE FROM stripe.subscription WHERE id = $1', [sub.id]);
      const events = states.map(([type, patch], i) => env.fake.event(type, { ...sub, ...patch }, t0 + i * 10));
      const order = shuffle([...events, ...events.slice(0, 3)], seed);
      for (const ev of order) expect((await env.deliver(ev)).status).toBe(200);
      await env.settle();
      expect(await row(env.pool, 'SELECT status, cancel_at_period_end FROM stripe.subscription WHERE id = $1', [sub.id])).toEqual({
        status: 'active',
        cancel_at_period_end: true,
      });
    }
    expect(await row(env.pool, `SELECT plan, features FROM stripe.owner_plan WHERE owner_id = $1`, [user])).toEqual({ plan: 'team', features: ['audit-log', 'sso'] });
    const claims = await row<{ c: Record<string, string> }>(env.pool, 'SELECT stripe.session_claims($1) AS c', [user]);
    expect(claims!.c).toEqual({ 'x-hasura-plan': 'team', 'x-hasura-features': '{"audit-log","sso"}' });
  });

  it('never lets an older event undo a cancellation, and reflects deletes', async () => {
    const user = 'cancel-user';
    const customer = await linkedCustomer(env, user);
    const product = env.fake.product({ metadata: { features: 'export' } });
    const price = env.fake.price({ product: product.id });
    await env.deliver(env.fake.event('product.created', product));
    const sub = env.fake.subscription({ customer: customer.id, price: price.id });
    const t0 = Math.floor(Date.now() / 1000) - 50;
    const canceled = env.fake.event('customer.subscription.deleted', { ...sub, status: 'canceled', ended_at: t0 + 5 }, t0 + 5);
    const activeLate = env.fake.event('customer.subscription.updated', { ...sub, status: 'active' }, t0);
    // Same second as the cancellation: the ended state still wins the tie.
    const activeTie = env.fake.event('customer.subscription.updated', { ...sub, status: 'active' }, t0 + 5);
    await env.deliver(canceled);
    await env.settle();
    await env.deliver(activeLate);
    await env.deliver(activeTie);
    await env.settle();
    expect(await row(env.pool, 'SELECT status FROM stripe.subscription WHERE id = $1', [sub.id])).toEqual({ status: 'canceled' });
    expect(await row(env.pool, 'SELECT status FROM stripe.event WHERE id = $1', [activeLate.id])).toEqual({ status: 'stale' });
    expect(await count('SELECT 1 FROM stripe.entitlement WHERE customer_id = $1', [customer.id])).toBe(0);
    expect((await row(env.pool, 'SELECT plan FROM stripe.owner_plan WHERE owner_id = $1', [user]))!.plan).toBe('free');

    const gone = env.fake.customer();
    await env.deliver(env.fake.event('customer.created', gone, t0));
    await env.deliver(env.fake.event('customer.deleted', { ...gone, deleted: true }, t0 + 1));
    await env.deliver(env.fake.event('customer.updated', { ...gone, email: 'late@example.test' }, t0 + 1));
    await env.settle();
    expect(await row(env.pool, 'SELECT deleted, email FROM stripe.customer WHERE id = $1', [gone.id])).toEqual({ deleted: true, email: null });
  });

  it('announces typed billing events once, only for real transitions', async () => {
    const user = 'typed-user';
    const customer = await linkedCustomer(env, user);
    const price = env.fake.price({ product: env.fake.product().id });
    const sub = env.fake.subscription({ customer: customer.id, price: price.id, status: 'incomplete' });
    const t0 = Math.floor(Date.now() / 1000) - 30;
    const activated = env.fake.event('customer.subscription.updated', { ...sub, status: 'active' }, t0 + 2);
    const olderIncomplete = env.fake.event('customer.subscription.created', { ...sub, status: 'incomplete' }, t0);
    const failed = env.fake.event('invoice.payment_failed', env.fake.invoice({ customer: customer.id, subscription: sub.id }), t0 + 3);
    for (const ev of [activated, olderIncomplete, activated, failed, failed]) await env.deliver(ev);
    await env.settle();
    const types = (await env.pool.query(`SELECT type, owner_id FROM stripe.billing_event WHERE customer_id = $1 ORDER BY type`, [customer.id])).rows;
    expect(types).toEqual([
      { type: 'invoice.payment_failed', owner_id: user },
      { type: 'subscription.activated', owner_id: user },
    ]);
  });

  it('links customers created elsewhere that name their app user', async () => {
    const c = env.fake.customer({ metadata: { nself_owner_type: 'user', nself_owner_id: 'dashboard-user' } });
    await env.deliver(env.fake.event('customer.created', c));
    await env.settle();
    expect(await row(env.pool, 'SELECT customer_id FROM stripe.customer_link WHERE owner_id = $1', ['dashboard-user'])).toEqual({ customer_id: c.id });
  });
});

describe('permissions', () => {
  it('lets users read only their own customer\'s rows', async () => {
    const a = await linkedCustomer(env, 'perm-a');
    const b = await linkedCustomer(env, 'perm-b');
    const price = env.fake.price({ product: env.fake.product().id });
    await env.deliver(env.fake.event('price.created', price));
    for (const c of [a, b]) {
      await env.deliver(env.fake.event('customer.subscription.created', env.fake.subscription({ customer: c.id, price: price.id })));
      await env.deliver(env.fake.event('invoice.finalized', env.fake.invoice({ customer: c.id })));
    }
    await env.settle();
    const me = { userId: 'perm-a' };
    const pick = (rows: Record<string, unknown>[]) => rows.map((r) => r.customer_id);
    expect(pick(await env.harness.select('user', me, { schema: 'stripe', name: 'subscription' }))).toEqual([a.id]);
    expect(pick(await env.harness.select('user', me, { schema: 'stripe', name: 'invoice' }))).toEqual([a.id]);
    expect(pick(await env.harness.select('user', me, { schema: 'stripe', name: 'subscription_item' }))).toEqual([a.id]);
    expect((await env.harness.select('user', me, { schema: 'stripe', name: 'customer_link' })).map((r) => r.owner_id)).toEqual(['perm-a']);
    expect(pick(await env.harness.select('user', { userId: 'nobody' }, { schema: 'stripe', name: 'subscription' }))).toEqual([]);
    // The ledger and refunds are admin-only: no select permission for users.
    expect(await env.harness.select('user', me, { schema: 'stripe', name: 'event' })).toEqual([]);
    // The catalogue is everyone's.
    expect((await env.harness.select('user', me, { schema: 'stripe', name: 'price' }, { id: { _eq: price.id } })).length).toBe(1);
  });
});

describe('dunning through the notifications plugin', () => {
  it('creates its categories at start', async () => {
    const r = await env.pool.query<{ key: string }>(`SELECT key FROM notifications.category WHERE key LIKE 'stripe.%' ORDER BY key`);
    expect(r.rows.map((x) => x.key)).toEqual(['stripe.past_due', 'stripe.payment_failed', 'stripe.trial_ending']);
  });

  it('notifies the customer\'s user of a failed payment once, however often it is delivered', async () => {
    const user = 'dunning-user';
    const customer = await linkedCustomer(env, user);
    const invoice = env.fake.invoice({ customer: customer.id, amountDue: 2500 });
    const ev = env.fake.event('invoice.payment_failed', invoice);
    await env.deliver(ev);
    await env.deliver(ev);
    await env.settle();
    await env.harness.drain({ timeoutMs: 10_000 });
    const [billing] = (await env.harness.eventLog('stripe_billing_event_notify')).filter((e) => (e.payload as any).data.new.owner_id === user);
    await env.harness.redeliverEvent(billing!.id);
    await env.harness.drain({ timeoutMs: 10_000 });
    const sent = await env.pool.query(`SELECT category, title, body, action_url FROM notifications.notification WHERE user_id = $1`, [user]);
    expect(sent.rows).toEqual([
      { category: 'stripe.payment_failed', title: 'Payment failed', body: expect.stringContaining('25.00 USD'), action_url: invoice.hosted_invoice_url },
    ]);
  });

  it('skips, with a reason, billing events of customers without an app user', async () => {
    const stranger = env.fake.customer();
    const ev = env.fake.event('invoice.payment_failed', env.fake.invoice({ customer: stranger.id }));
    await env.deliver(ev);
    await env.settle();
    await env.harness.drain({ timeoutMs: 10_000 });
    const [billing] = (await env.harness.eventLog('stripe_billing_event_notify')).filter((e) => (e.payload as any).data.new.customer_id === stranger.id);
    expect(JSON.stringify((await env.harness.invocations(billing!.id)).at(-1)!.response)).toContain('not linked to an app user');
  });
});
