/**
 * Checkout by insert: a user inserts into stripe.checkout_request (through the insert permission, owner preset
 * from the session), the event trigger creates the Checkout Session with the action's checks and writes back
 * the session or the refusal; redeliveries create no second session; users read only their own requests.
 */
import { startStripe, row, type StripeEnv } from './support/fixture.js';

let env: StripeEnv;
let monthly: string;
let oneTime: string;
let archived: string;

const REQUESTS = { schema: 'stripe', name: 'checkout_request' };
const TRIGGER = 'stripe_checkout_request_create';
const OK = { success_url: 'https://app.example.test/billing/done', cancel_url: 'https://app.example.test/billing' };

interface RequestRow {
  id: string;
  owner_id: string;
  status: string;
  session_id: string | null;
  url: string | null;
  customer_id: string | null;
  error_code: string | null;
  error_message: string | null;
}

beforeAll(async () => {
  env = await startStripe(
    'stripe_checkout_req',
    {
      STRIPE_REDIRECT_ORIGINS: 'https://app.example.test',
      STRIPE_ORG_MEMBERS_TABLE: 'public.memberships',
      STRIPE_ORG_MEMBERS_ORG_COLUMN: 'organization',
      STRIPE_ORG_MEMBERS_USER_COLUMN: 'member',
      STRIPE_ORG_MEMBERS_ROLE_COLUMN: 'role',
    },
    async (pool) => {
      await pool.query(`CREATE TABLE public.memberships (organization text NOT NULL, member text NOT NULL, role text NOT NULL)`);
      await pool.query(`INSERT INTO public.memberships VALUES ('acme', 'acme-owner', 'owner'), ('acme', 'acme-dev', 'developer')`);
    },
  );
  const pro = env.fake.product({ name: 'Pro', metadata: { plan: 'pro' } });
  const prices = [
    env.fake.price({ product: pro.id, unitAmount: 1000 }),
    env.fake.price({ product: pro.id, unitAmount: 500, recurring: null }),
    env.fake.price({ product: pro.id, active: false }),
  ];
  [monthly, oneTime, archived] = prices.map((p) => p.id) as [string, string, string];
  await env.deliver(env.fake.event('product.created', pro));
  for (const p of prices) await env.deliver(env.fake.event('price.created', p));
  await env.settle();
});
afterAll(async () => {
  await env?.close();
});

/** Inserts as `user` the way Hasura's insert mutation does: the permission first, then the row with its preset. */
async function insertAs(user: string, values: Record<string, unknown>): Promise<string> {
  const fields = { ...values, items: JSON.stringify(values.items) };
  const verdict = await env.harness.insertAllowed('user', { userId: user }, REQUESTS, fields);
  if (!verdict.allowed) throw new Error(`insert refused: ${verdict.reason}`);
  const cols = Object.keys(fields);
  return env.harness.withSession({ role: 'user', userId: user }, async (c) => {
    const r = await c.query<{ id: string }>(
      `INSERT INTO stripe.checkout_request (owner_id, ${cols.join(', ')}) VALUES ($1, ${cols.map((_, i) => `$${i + 2}`).join(', ')}) RETURNING id`,
      [user, ...cols.map((k) => fields[k as keyof typeof fields])],
    );
    return r.rows[0]!.id;
  });
}

const request = async (id: string) => (await row<RequestRow>(env.pool, 'SELECT * FROM stripe.checkout_request WHERE id = $1', [id]))!;
const sessionPosts = () => env.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
const eventOf = async (id: string) => (await env.harness.eventLog(TRIGGER)).find((e) => (e.payload as any).data.new.id === id)!;

describe('checkout by insert', () => {
  it('creates the session, writes it back, and the user reads it', async () => {
    const id = await insertAs('ins-buyer', { items: [{ price: monthly, quantity: 2 }], mode: 'subscription', trial_days: 7, ...OK });
    expect((await request(id)).status).toBe('pending');
    await env.harness.drain();
    const done = await request(id);
    expect(done).toMatchObject({ owner_id: 'ins-buyer', status: 'created', error_code: null });
    expect(done.session_id).toMatch(/^cs_test_/);
    expect(done.url).toBe(`https://checkout.stripe.test/c/pay/${done.session_id}`);
    // The user's customer was created on first need and linked.
    expect(await row(env.pool, `SELECT customer_id FROM stripe.customer_link WHERE owner_type = 'user' AND owner_id = 'ins-buyer'`)).toEqual({ customer_id: done.customer_id });
    const sent = sessionPosts().at(-1)!;
    expect(sent.headers['idempotency-key']).toBe(`nself-checkout-request-${id}`);
    expect(sent.params).toMatchObject({ customer: done.customer_id, line_items: [{ price: monthly, quantity: '2' }], subscription_data: { trial_period_days: '7' }, client_reference_id: 'ins-buyer' });
    const mine = await env.harness.select('user', { userId: 'ins-buyer' }, REQUESTS, { id: { _eq: id } });
    expect(mine).toEqual([expect.objectContaining({ id, status: 'created', session_id: done.session_id, url: done.url })]);
  });

  it('records why a request failed and creates nothing in Stripe', async () => {
    const before = sessionPosts().length;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ items: [{ price: 'price_doesnotexist' }], mode: 'subscription', ...OK }, 'stripe/unknown-price'],
      [{ items: [{ price: archived }], mode: 'subscription', ...OK }, 'stripe/archived-price'],
      [{ items: [{ price: oneTime }], mode: 'subscription', ...OK }, 'stripe/mode-mismatch'],
      [{ items: [{ price: monthly }], mode: 'subscription', ...OK, success_url: 'https://evil.example/steal' }, 'stripe/redirect-not-allowed'],
      [{ items: [{ price: 42 }], mode: 'subscription', ...OK }, 'stripe/invalid-input'],
      [{ items: [], mode: 'subscription', ...OK }, 'stripe/invalid-input'],
      [{ items: Array.from({ length: 21 }, () => ({ price: monthly })), mode: 'subscription', ...OK }, 'stripe/invalid-input'],
      [{ items: [{ price: monthly, quantity: 1e9 }], mode: 'subscription', ...OK }, 'stripe/invalid-input'],
      [{ items: [{ price: oneTime }], mode: 'payment', trial_days: 3, ...OK }, 'stripe/invalid-input'],
    ];
    const ids = [];
    for (const [values] of cases) ids.push(await insertAs('ins-bad', values));
    await env.harness.drain();
    for (const [i, [, code]] of cases.entries()) {
      const r = await request(ids[i]!);
      expect({ status: r.status, code: r.error_code, session: r.session_id }).toEqual({ status: 'failed', code, session: null });
      expect(r.error_message).toBeTruthy();
    }
    expect(sessionPosts().length).toBe(before);
    // The refusal is recorded as a skipped event (delivered, not an error): Hasura does not retry it.
    const ev = await eventOf(ids[0]!);
    expect(ev).toMatchObject({ delivered: true, error: false, tries: 1 });
  });

  it('refuses bad rows at insert: owner or status set by the user, oversize URLs, a wrong mode', async () => {
    expect(await env.harness.insertAllowed('user', { userId: 'ins-x' }, REQUESTS, { owner_id: 'someone-else', items: '[]', mode: 'payment', ...OK })).toMatchObject({ allowed: false });
    expect(await env.harness.insertAllowed('user', { userId: 'ins-x' }, REQUESTS, { status: 'created', items: '[]', mode: 'payment', ...OK })).toMatchObject({ allowed: false });
    expect(await env.harness.insertAllowed('user', { userId: 'ins-x' }, REQUESTS, { session_id: 'cs_test_x', items: '[]', mode: 'payment', ...OK })).toMatchObject({ allowed: false });
    await expect(insertAs('ins-x', { items: [{ price: monthly }], mode: 'subscription', ...OK, success_url: `https://app.example.test/${'x'.repeat(2001)}` })).rejects.toThrow(/check constraint/);
    await expect(insertAs('ins-x', { items: [{ price: monthly }], mode: 'rental', ...OK })).rejects.toThrow(/check constraint/);
    await expect(insertAs('ins-x', { items: { price: monthly }, mode: 'subscription', ...OK })).rejects.toThrow(/check constraint/);
    expect(await row(env.pool, `SELECT count(*)::int AS n FROM stripe.checkout_request WHERE owner_id = 'ins-x'`)).toEqual({ n: 0 });
  });

  it('shows users only their own requests', async () => {
    const a = await insertAs('ins-a', { items: [{ price: monthly }], mode: 'subscription', ...OK });
    const b = await insertAs('ins-b', { items: [{ price: monthly }], mode: 'subscription', ...OK });
    await env.harness.drain();
    const ids = (rows: Record<string, unknown>[]) => rows.map((r) => r.id);
    expect(ids(await env.harness.select('user', { userId: 'ins-a' }, REQUESTS))).toEqual([a]);
    expect(ids(await env.harness.select('user', { userId: 'ins-b' }, REQUESTS))).toEqual([b]);
    expect(ids(await env.harness.select('user', { userId: 'ins-a' }, REQUESTS, { id: { _eq: b } }))).toEqual([]);
    expect(await env.harness.select('user', { userId: 'ins-nobody' }, REQUESTS)).toEqual([]);
  });

  it('creates no second session on redelivery, even after a crash before the write-back', async () => {
    const id = await insertAs('ins-again', { items: [{ price: monthly }], mode: 'subscription', ...OK });
    await env.harness.drain();
    const first = await request(id);
    expect(first.status).toBe('created');
    const ev = await eventOf(id);
    const posted = sessionPosts().length;
    // A plain redelivery: the row is settled, nothing is asked of Stripe.
    await env.harness.redeliverEvent(ev.id);
    await env.harness.drain();
    expect((await env.harness.invocations(ev.id)).length).toBe(2);
    expect(sessionPosts().length).toBe(posted);
    expect(await request(id)).toEqual(first);
    // As if the first delivery had reached Stripe but died before writing back: the same session comes back.
    await env.pool.query(`UPDATE stripe.checkout_request SET status = 'pending', session_id = NULL, url = NULL WHERE id = $1`, [id]);
    await env.harness.redeliverEvent(ev.id);
    await env.harness.drain();
    expect((await env.harness.invocations(ev.id)).length).toBe(3);
    const again = await request(id);
    expect(again).toMatchObject({ status: 'created', session_id: first.session_id, url: first.url });
    expect(sessionPosts().slice(posted).map((r) => r.headers['idempotency-key'])).toEqual([`nself-checkout-request-${id}`]);
    expect([...env.fake.store.get('checkout/sessions')!.values()].filter((s) => s.client_reference_id === 'ins-again')).toHaveLength(1);
  });

  it('checks out for an organisation only for its billing roles', async () => {
    const ok = await insertAs('acme-owner', { items: [{ price: monthly }], mode: 'subscription', organization_id: 'acme', ...OK });
    const dev = await insertAs('acme-dev', { items: [{ price: monthly }], mode: 'subscription', organization_id: 'acme', ...OK });
    const outsider = await insertAs('ins-outsider', { items: [{ price: monthly }], mode: 'subscription', organization_id: 'acme', ...OK });
    await env.harness.drain();
    const created = await request(ok);
    expect(created.status).toBe('created');
    expect(await row(env.pool, `SELECT customer_id FROM stripe.customer_link WHERE owner_type = 'organization' AND owner_id = 'acme'`)).toEqual({ customer_id: created.customer_id });
    expect(await request(dev)).toMatchObject({ status: 'failed', error_code: 'stripe/not-billing-manager', session_id: null });
    expect(await request(outsider)).toMatchObject({ status: 'failed', error_code: 'stripe/not-a-member', session_id: null });
  });
});
