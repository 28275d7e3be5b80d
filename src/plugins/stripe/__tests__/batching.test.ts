/**
 * The batched paths: deliveries arriving together are recorded by one statement and applied by shared jobs,
 * each event in its own transaction — an event that cannot be applied leaves the others of its job applied,
 * the same event twice in one batch is recorded and applied once.
 */
import { startStripe, row, type StripeEnv } from './support/fixture.js';
import { applyEventJob } from '../lib/jobs.js';

let env: StripeEnv;
beforeAll(async () => {
  env = await startStripe('stripe_batching');
});
afterAll(async () => {
  await env?.close();
});

const statusOf = async (id: string) => (await row<{ status: string }>(env.pool, 'SELECT status FROM stripe.event WHERE id = $1', [id]))?.status;

async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

describe('events delivered together', () => {
  it('records the same event delivered twice at once once, answers one as a duplicate, and applies it once', async () => {
    const product = env.fake.product({ metadata: { features: 'chat' } });
    const price = env.fake.price({ product: product.id });
    // The product is mirrored first: the entitlements then come from the subscription's own transaction.
    expect((await env.deliver(env.fake.event('product.created', product))).status).toBe(200);
    await env.settle();
    const c = env.fake.customer();
    const ev = env.fake.event('customer.subscription.created', env.fake.subscription({ customer: c.id, price: price.id }));
    const answers = await Promise.all([env.deliver(ev), env.deliver(ev)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.map((a) => a.body.duplicate).sort()).toEqual([false, true]);
    await env.settle();
    expect(await statusOf(ev.id)).toBe('applied');
    expect(Number((await row(env.pool, 'SELECT count(*) AS n FROM stripe.event WHERE id = $1', [ev.id]))!.n)).toBe(1);
    expect(Number((await row(env.pool, `SELECT count(*) AS n FROM stripe.billing_event WHERE stripe_event_id = $1`, [ev.id]))!.n)).toBe(1);
    expect(await row(env.pool, 'SELECT feature FROM stripe.entitlement WHERE customer_id = $1', [c.id])).toEqual({ feature: 'chat' });
  });

  it('applies the events of a shared job each in its own transaction: one that cannot be applied stays pending, the others are applied', async () => {
    const product = env.fake.product({ metadata: { features: 'a,b' } });
    const price = env.fake.price({ product: product.id });
    const good: string[] = [];
    const events: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      const c = env.fake.customer({ email: `batch${i}@example.test` });
      const customerEvent = env.fake.event('customer.updated', c);
      const subscriptionEvent = env.fake.event('customer.subscription.updated', env.fake.subscription({ customer: c.id, price: price.id }));
      good.push(customerEvent.id, subscriptionEvent.id);
      events.push(customerEvent, subscriptionEvent);
    }
    // An embedded item without an id cannot be stored (the mirror's key): this event's transaction fails.
    const broken = env.fake.subscription({ customer: env.fake.customer().id, price: price.id });
    const poison = env.fake.event('customer.subscription.updated', { ...broken, items: { ...broken.items, data: [{ ...broken.items.data[0]!, id: undefined }] } });
    events.splice(5, 0, poison);

    // Recorded as the webhook route records them, and handed to one shared job (as deliveries arriving together are).
    await env.pool.query(
      `INSERT INTO stripe.event (id, type, object_id, livemode, created, data)
       SELECT e ->> 'id', e ->> 'type', e -> 'data' -> 'object' ->> 'id', false, to_timestamp((e ->> 'created')::float8), e FROM unnest($1::jsonb[]) e`,
      [events.map((e) => JSON.stringify(e))],
    );
    await applyEventJob.enqueue(env.runtime.pluginRuntime('stripe'), { eventIds: events.map((e) => (e as { id: string }).id) });
    await waitFor(async () => (await Promise.all(good.map(statusOf))).every((s) => s === 'applied'), 'the twelve good events');
    expect(await statusOf(poison.id)).toBe('pending');
    expect(await row(env.pool, 'SELECT count(*)::int AS n FROM stripe.subscription WHERE id = $1', [broken.id])).toEqual({ n: 0 });
    expect(Number((await row(env.pool, `SELECT count(*) AS n FROM stripe.billing_event WHERE type = 'subscription.activated' AND stripe_event_id = ANY($1)`, [good]))!.n)).toBe(6);
    // Out of the way of later tests: the broken event is settled by hand.
    await env.pool.query(`UPDATE stripe.event SET status = 'ignored', reason = 'test' WHERE id = $1`, [poison.id]);
  });

  it('refuses an apply job that is empty, too large or names something that is not an event id', async () => {
    const ctx = env.runtime.pluginRuntime('stripe');
    await expect(applyEventJob.enqueue(ctx, { eventIds: [] })).rejects.toThrow();
    await expect(applyEventJob.enqueue(ctx, { eventIds: Array.from({ length: 26 }, (_, i) => `evt_${i}`) })).rejects.toThrow();
    await expect(applyEventJob.enqueue(ctx, { eventIds: ['cus_123'] })).rejects.toThrow();
    await expect(applyEventJob.enqueue(ctx, { eventId: 'evt_1', eventIds: ['evt_2'] } as never)).rejects.toThrow();
  });
});
