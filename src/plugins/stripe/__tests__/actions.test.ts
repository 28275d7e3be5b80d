/**
 * Write actions through GraphQL as users, against the strict fake: the happy paths, and every bad input
 * answered with a clear 4xx that creates nothing in Stripe or in the database.
 */
import { startStripe, errorCode, row, linkedCustomer, type StripeEnv } from './support/fixture.js';

let env: StripeEnv;
let monthly: string;
let yearly: string;
let oneTime: string;
let archived: string;
let ofArchivedProduct: string;

const CHECKOUT = `mutation ($items: [StripeCheckoutItem!]!, $mode: StripeCheckoutMode!, $successUrl: String!, $cancelUrl: String!, $customerId: String, $trialDays: Int, $allowPromotionCodes: Boolean, $promotionCode: String, $automaticTax: Boolean, $taxIdCollection: Boolean) {
  stripeCreateCheckoutSession(items: $items, mode: $mode, successUrl: $successUrl, cancelUrl: $cancelUrl, customerId: $customerId, trialDays: $trialDays, allowPromotionCodes: $allowPromotionCodes, promotionCode: $promotionCode, automaticTax: $automaticTax, taxIdCollection: $taxIdCollection) { id url customerId expiresAt } }`;
const OK_URLS = { successUrl: 'https://app.example.test/billing/done', cancelUrl: 'https://app.example.test/billing' };

const posts = (path: string) => env.fake.requests.filter((r) => r.method === 'POST' && r.path === path).length;

beforeAll(async () => {
  env = await startStripe('stripe_actions', { STRIPE_REDIRECT_ORIGINS: 'https://app.example.test', STRIPE_PUBLISHABLE_KEY: 'pk_test_abc123', STRIPE_USAGE_MAX_VALUE: '1000' });
  const pro = env.fake.product({ name: 'Pro', metadata: { features: 'sso', plan: 'pro' } });
  const old = env.fake.product({ name: 'Legacy', active: false });
  const prices = [
    env.fake.price({ product: pro.id, unitAmount: 1000 }),
    env.fake.price({ product: pro.id, unitAmount: 10000, recurring: 'year' }),
    env.fake.price({ product: pro.id, unitAmount: 500, recurring: null }),
    env.fake.price({ product: pro.id, active: false }),
    env.fake.price({ product: old.id }),
  ];
  [monthly, yearly, oneTime, archived, ofArchivedProduct] = prices.map((p) => p.id) as [string, string, string, string, string];
  for (const o of [pro, old]) await env.deliver(env.fake.event('product.created', o));
  for (const p of prices) await env.deliver(env.fake.event('price.created', p));
  await env.deliver(env.fake.event('billing.meter.created', env.fake.meter({ eventName: 'api_calls' })));
  await env.settle();
});
afterAll(async () => {
  await env?.close();
});

describe('stripeCreateCheckoutSession', () => {
  it('creates the customer on first need, once, and a session for it', async () => {
    const [a, b] = await Promise.all([
      env.as('buyer', CHECKOUT, { items: [{ price: monthly, quantity: 2 }], mode: 'subscription', trialDays: 14, allowPromotionCodes: true, automaticTax: true, taxIdCollection: true, ...OK_URLS }),
      env.as('buyer', CHECKOUT, { items: [{ price: monthly }], mode: 'subscription', ...OK_URLS }),
    ]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    const customerId = a.data.stripeCreateCheckoutSession.customerId;
    expect(b.data.stripeCreateCheckoutSession.customerId).toBe(customerId);
    expect(a.data.stripeCreateCheckoutSession.url).toMatch(/^https:\/\/checkout\.stripe\.test\//);
    expect(await row(env.pool, `SELECT customer_id FROM stripe.customer_link WHERE owner_id = 'buyer'`)).toEqual({ customer_id: customerId });
    expect(env.fake.get('customers', customerId)!.metadata).toEqual({ nself_owner_type: 'user', nself_owner_id: 'buyer' });
    const sent = env.fake.requests.find((r) => r.path === '/v1/checkout/sessions' && r.params.subscription_data)!;
    expect(sent.params).toMatchObject({
      mode: 'subscription',
      customer: customerId,
      line_items: [{ price: monthly, quantity: '2' }],
      subscription_data: { trial_period_days: '14' },
      allow_promotion_codes: 'true',
      automatic_tax: { enabled: 'true' },
      tax_id_collection: { enabled: 'true' },
      client_reference_id: 'buyer',
    });
    expect(sent.headers['idempotency-key']).toBeTruthy();
  });

  it('takes one-time payments with one-time prices', async () => {
    const res = await env.as('buyer', CHECKOUT, { items: [{ price: oneTime }], mode: 'payment', ...OK_URLS });
    expect(res.errors).toBeUndefined();
  });

  it.each([
    ['an unknown price', { items: [{ price: 'price_doesnotexist' }], mode: 'subscription' }, 'stripe/unknown-price'],
    ['an archived price', { items: [{ price: 'ARCHIVED' }], mode: 'subscription' }, 'stripe/archived-price'],
    ['a price of an archived product', { items: [{ price: 'OF_ARCHIVED' }], mode: 'subscription' }, 'stripe/archived-price'],
    ['a one-time price for a subscription', { items: [{ price: 'ONE_TIME' }], mode: 'subscription' }, 'stripe/mode-mismatch'],
    ['a recurring price for a payment', { items: [{ price: 'MONTHLY' }], mode: 'payment' }, 'stripe/mode-mismatch'],
    ['a success URL outside the allow-list', { items: [{ price: 'MONTHLY' }], mode: 'subscription', successUrl: 'https://evil.example/steal' }, 'stripe/redirect-not-allowed'],
    ['a cancel URL with credentials', { items: [{ price: 'MONTHLY' }], mode: 'subscription', cancelUrl: 'https://x:y@app.example.test/' }, 'stripe/redirect-not-allowed'],
    ['a javascript: URL', { items: [{ price: 'MONTHLY' }], mode: 'subscription', successUrl: 'javascript:alert(1)' }, 'stripe/redirect-not-allowed'],
    ['no items', { items: [], mode: 'subscription' }, 'stripe/invalid-input'],
    ['too many items', { items: Array.from({ length: 21 }, () => ({ price: 'MONTHLY' })), mode: 'subscription' }, 'stripe/invalid-input'],
    ['a zero quantity', { items: [{ price: 'MONTHLY', quantity: 0 }], mode: 'subscription' }, 'stripe/invalid-input'],
    ['a malformed price id', { items: [{ price: 'x'.repeat(5000) }], mode: 'subscription' }, 'stripe/invalid-input'],
    ['promotion codes both ways', { items: [{ price: 'MONTHLY' }], mode: 'subscription', allowPromotionCodes: true, promotionCode: 'promo_abc' }, 'stripe/invalid-input'],
    ['a trial on a payment', { items: [{ price: 'ONE_TIME' }], mode: 'payment', trialDays: 7 }, 'stripe/invalid-input'],
    ['another user\'s customer', { items: [{ price: 'MONTHLY' }], mode: 'subscription', customerId: 'OTHER' }, 'stripe/not-your-customer'],
  ])('refuses %s and creates nothing', async (_what, vars, code) => {
    const other = await linkedCustomer(env, `other-${Math.random()}`);
    const sub = (v: unknown): unknown =>
      typeof v === 'string'
        ? ({ MONTHLY: monthly, ARCHIVED: archived, OF_ARCHIVED: ofArchivedProduct, ONE_TIME: oneTime, OTHER: other.id } as Record<string, string>)[v] ?? v
        : Array.isArray(v)
          ? v.map(sub)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sub(x)]))
            : v;
    const before = posts('/v1/checkout/sessions');
    const customers = posts('/v1/customers');
    const res = await env.as('refused-buyer', CHECKOUT, { ...OK_URLS, ...(sub(vars) as object) });
    expect(errorCode(res)).toBe(code);
    expect(posts('/v1/checkout/sessions')).toBe(before);
    expect(posts('/v1/customers')).toBe(customers);
    expect(await row(env.pool, `SELECT 1 AS x FROM stripe.customer_link WHERE owner_id = 'refused-buyer'`)).toBeUndefined();
  });

  it('refuses wrong types and missing fields before the handler', async () => {
    const wrongType = await env.as('buyer', CHECKOUT, { items: [{ price: 42 }], mode: 'subscription', ...OK_URLS });
    expect(wrongType.errors?.length).toBeGreaterThan(0);
    const badEnum = await env.as('buyer', CHECKOUT, { items: [{ price: monthly }], mode: 'setup', ...OK_URLS });
    expect(badEnum.errors?.length).toBeGreaterThan(0);
    const missing = await env.as('buyer', `mutation { stripeCreateCheckoutSession(items: [], mode: payment, successUrl: "https://app.example.test/") { id } }`);
    expect(missing.errors?.length).toBeGreaterThan(0);
  });

  it('answers 429 as rate-limited when Stripe keeps refusing', async () => {
    env.fake.rateLimit(5, '/v1/checkout/sessions');
    const res = await env.as('buyer', CHECKOUT, { items: [{ price: monthly }], mode: 'subscription', ...OK_URLS });
    expect(errorCode(res)).toBe('stripe/rate-limited');
    env.fake.rateLimit(0);
  });
});

describe('portal and setup intents', () => {
  it('returns a portal link for the caller, and refuses foreign return URLs', async () => {
    const ok = await env.as('buyer', `mutation { stripeCreatePortalSession(returnUrl: "https://app.example.test/account") { url customerId } }`);
    expect(ok.errors).toBeUndefined();
    expect(ok.data.stripeCreatePortalSession.url).toMatch(/^https:\/\/billing\.stripe\.test\//);
    const bad = await env.as('buyer', `mutation { stripeCreatePortalSession(returnUrl: "https://elsewhere.test/") { url } }`);
    expect(errorCode(bad)).toBe('stripe/redirect-not-allowed');
  });

  it('gives a PaymentSheet what it needs', async () => {
    const res = await env.as('buyer', `mutation { stripeCreateSetupIntent { id clientSecret ephemeralKey customerId publishableKey } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.stripeCreateSetupIntent).toMatchObject({ clientSecret: expect.stringMatching(/^seti_.*_secret_/), ephemeralKey: expect.stringMatching(/^ek_test_/), publishableKey: 'pk_test_abc123' });
  });
});

describe('subscriptions', () => {
  let subId: string;
  let customerId: string;
  beforeAll(async () => {
    const c = await linkedCustomer(env, 'subscriber');
    customerId = c.id;
    const sub = env.fake.subscription({ customer: c.id, price: monthly });
    subId = sub.id;
    await env.deliver(env.fake.event('customer.subscription.created', sub, Math.floor(Date.now() / 1000) - 60));
    await env.settle();
  });

  it('previews a proration without changing anything', async () => {
    const res = await env.as('subscriber', `query ($s: String!, $p: String!) { stripePreviewProration(subscriptionId: $s, price: $p) { amountDue total currency prorationDate lines { amount proration } } }`, { s: subId, p: yearly });
    expect(res.errors).toBeUndefined();
    expect(res.data.stripePreviewProration).toMatchObject({ amountDue: 4500, total: 4500, currency: 'usd', lines: [{ amount: -500, proration: true }, { amount: 5000, proration: true }] });
    expect(env.fake.get('subscriptions', subId)!.items.data[0].price.id).toBe(monthly);
  });

  it('changes the plan and mirrors the result at once', async () => {
    const res = await env.as('subscriber', `mutation ($s: String!, $p: String!) { stripeChangePlan(subscriptionId: $s, price: $p, prorationBehavior: none) { id status priceIds customerId } }`, { s: subId, p: yearly });
    expect(res.errors).toBeUndefined();
    expect(res.data.stripeChangePlan).toEqual({ id: subId, status: 'active', priceIds: [yearly], customerId });
    expect(await row(env.pool, `SELECT price_id FROM stripe.subscription_item WHERE parent_id = $1 AND NOT deleted`, [subId])).toEqual({ price_id: yearly });
  });

  it('refuses another user\'s subscription, archived prices and one-time prices', async () => {
    const before = env.fake.requests.filter((r) => r.path.startsWith('/v1/subscriptions/')).length;
    const CHANGE = `mutation ($s: String!, $p: String!) { stripeChangePlan(subscriptionId: $s, price: $p) { id } }`;
    expect(errorCode(await env.as('intruder', CHANGE, { s: subId, p: monthly }))).toBe('stripe/unknown-subscription');
    expect(errorCode(await env.as('subscriber', CHANGE, { s: subId, p: archived }))).toBe('stripe/archived-price');
    expect(errorCode(await env.as('subscriber', CHANGE, { s: subId, p: oneTime }))).toBe('stripe/mode-mismatch');
    expect(errorCode(await env.as('subscriber', CHANGE, { s: 'sub_nope', p: monthly }))).toBe('stripe/unknown-subscription');
    expect(errorCode(await env.as('subscriber', CHANGE, { s: 'not an id', p: monthly }))).toBe('stripe/invalid-input');
    expect(errorCode(await env.as('intruder', `mutation ($s: String!) { stripeCancelSubscription(subscriptionId: $s) { id } }`, { s: subId }))).toBe('stripe/unknown-subscription');
    expect(env.fake.requests.filter((r) => r.path.startsWith('/v1/subscriptions/')).length).toBe(before);
  });

  it('cancels at period end, resumes, and cancels at once with a typed event', async () => {
    const cancel = await env.as('subscriber', `mutation ($s: String!) { stripeCancelSubscription(subscriptionId: $s) { status cancelAtPeriodEnd } }`, { s: subId });
    expect(cancel.data.stripeCancelSubscription).toEqual({ status: 'active', cancelAtPeriodEnd: true });
    const resume = await env.as('subscriber', `mutation ($s: String!) { stripeResumeSubscription(subscriptionId: $s) { status cancelAtPeriodEnd } }`, { s: subId });
    expect(resume.data.stripeResumeSubscription).toEqual({ status: 'active', cancelAtPeriodEnd: false });
    const now = await env.as('subscriber', `mutation ($s: String!) { stripeCancelSubscription(subscriptionId: $s, atPeriodEnd: false) { status } }`, { s: subId });
    expect(now.data.stripeCancelSubscription).toEqual({ status: 'canceled' });
    expect(await row(env.pool, `SELECT status FROM stripe.subscription WHERE id = $1`, [subId])).toEqual({ status: 'canceled' });
    expect(await row(env.pool, `SELECT type, owner_id FROM stripe.billing_event WHERE object_id = $1 AND type = 'subscription.canceled'`, [subId])).toEqual({ type: 'subscription.canceled', owner_id: 'subscriber' });
    const again = await env.as('subscriber', `mutation ($s: String!) { stripeResumeSubscription(subscriptionId: $s) { status } }`, { s: subId });
    expect(errorCode(again)).toBe('stripe/subscription-ended');
    // The webhook of the cancellation arrives after the action mirrored it: an equal state, nothing changes.
    await env.deliver(env.fake.event('customer.subscription.deleted', env.fake.get('subscriptions', subId)!, Math.floor(Date.now() / 1000) - 1));
    await env.settle();
    expect(await row(env.pool, `SELECT status FROM stripe.subscription WHERE id = $1`, [subId])).toEqual({ status: 'canceled' });
  });
});

describe('stripeRecordUsage', () => {
  const USAGE = `mutation ($e: String!, $v: Int!, $i: String!) { stripeRecordUsage(eventName: $e, value: $v, identifier: $i) { identifier value duplicate customerId } }`;
  beforeAll(async () => {
    await linkedCustomer(env, 'meter-user');
  });

  it('records a meter event once per identifier', async () => {
    const first = await env.as('meter-user', USAGE, { e: 'api_calls', v: 12, i: 'req-0001' });
    expect(first.errors).toBeUndefined();
    expect(first.data.stripeRecordUsage).toMatchObject({ value: 12, duplicate: false });
    const replay = await env.as('meter-user', USAGE, { e: 'api_calls', v: 12, i: 'req-0001' });
    expect(replay.data.stripeRecordUsage).toMatchObject({ duplicate: true });
    expect(env.fake.meterEvents.filter((e) => e.identifier === 'req-0001')).toHaveLength(1);
    expect(env.fake.meterEvents[0]!.payload).toEqual({ stripe_customer_id: first.data.stripeRecordUsage.customerId, value: '12' });
  });

  it.each([
    ['a negative quantity', { v: -5 }, 'stripe/invalid-input'],
    ['zero', { v: 0 }, 'stripe/invalid-input'],
    ['more than the configured maximum', { v: 1001 }, 'stripe/invalid-input'],
    ['an unknown meter', { e: 'nope' }, 'stripe/unknown-meter'],
    ['a reused identifier with another value', { i: 'req-0001', v: 13 }, 'stripe/usage-conflict'],
    ['an oversize identifier', { i: 'x'.repeat(500) }, 'stripe/invalid-input'],
  ])('refuses %s', async (_what, vars, code) => {
    const before = env.fake.meterEvents.length;
    const res = await env.as('meter-user', USAGE, { e: 'api_calls', v: 1, i: `req-${Math.random().toString(36).slice(2)}`, ...vars });
    expect(errorCode(res)).toBe(code);
    expect(env.fake.meterEvents.length).toBe(before);
  });

  it('refuses a quantity beyond Int and a user without a customer', async () => {
    expect((await env.as('meter-user', USAGE, { e: 'api_calls', v: 1e12, i: 'big' })).errors?.length).toBeGreaterThan(0);
    expect(errorCode(await env.as('no-customer', USAGE, { e: 'api_calls', v: 1, i: 'nc-1' }))).toBe('stripe/no-customer');
  });
});

describe('stripeInvoices', () => {
  it('lists only the caller\'s invoices', async () => {
    const mine = await linkedCustomer(env, 'inv-user');
    const theirs = await linkedCustomer(env, 'inv-other');
    const a = env.fake.invoice({ customer: mine.id, status: 'paid' });
    await env.deliver(env.fake.event('invoice.paid', a));
    await env.deliver(env.fake.event('invoice.finalized', env.fake.invoice({ customer: theirs.id })));
    await env.settle();
    const res = await env.as('inv-user', `{ stripeInvoices { id status amountPaid hostedInvoiceUrl } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.stripeInvoices).toEqual([{ id: a.id, status: 'paid', amountPaid: 1000, hostedInvoiceUrl: a.hosted_invoice_url }]);
    expect(errorCode(await env.as('inv-user', `query ($c: String) { stripeInvoices(customerId: $c) { id } }`, { c: theirs.id }))).toBe('stripe/not-your-customer');
    expect((await env.as('nobody-here', `{ stripeInvoices { id } }`)).data.stripeInvoices).toEqual([]);
    expect(errorCode(await env.as('inv-user', `{ stripeInvoices(limit: 100000) { id } }`))).toBe('stripe/invalid-input');
  });
});

describe('organisations off (no STRIPE_ORG_MEMBERS_TABLE)', () => {
  it('answers organizationId with a clear 409 and creates nothing', async () => {
    const before = posts('/v1/customers');
    expect(errorCode(await env.as('buyer', `query { stripeInvoices(organizationId: "acme") { id } }`))).toBe('stripe/organizations-off');
    const checkout = `mutation ($p: String!) { stripeCreateCheckoutSession(items: [{ price: $p }], mode: subscription, successUrl: "https://app.example.test/ok", cancelUrl: "https://app.example.test/no", organizationId: "acme") { id } }`;
    expect(errorCode(await env.as('buyer', checkout, { p: monthly }))).toBe('stripe/organizations-off');
    expect(errorCode(await env.as('buyer', `mutation { stripeCreatePortalSession(returnUrl: "https://app.example.test/b", organizationId: "acme") { url } }`))).toBe('stripe/organizations-off');
    expect(posts('/v1/customers')).toBe(before);
    expect(await row(env.pool, `SELECT count(*)::int AS n FROM stripe.organization_member`)).toEqual({ n: 0 });
  });
});

describe('bad input for every action', () => {
  let foreign: string;
  let mySub: string;
  beforeAll(async () => {
    foreign = (await linkedCustomer(env, 'someone-else')).id;
    const mine = await linkedCustomer(env, 'checker');
    const sub = env.fake.subscription({ customer: mine.id, price: monthly });
    mySub = sub.id;
    await env.deliver(env.fake.event('customer.subscription.created', sub, Math.floor(Date.now() / 1000) - 60));
    await env.settle();
  });

  const BIG = 'x'.repeat(100_000);
  it.each([
    ['portal: another user\'s customer', `mutation ($c: String) { stripeCreatePortalSession(returnUrl: "https://app.example.test/", customerId: $c) { url } }`, { c: 'FOREIGN' }, 'stripe/not-your-customer'],
    ['portal: an oversize return URL', `mutation ($u: String!) { stripeCreatePortalSession(returnUrl: $u) { url } }`, { u: `https://app.example.test/${BIG}` }, 'stripe/invalid-input'],
    ['setup intent: another user\'s customer', `mutation ($c: String) { stripeCreateSetupIntent(customerId: $c) { id } }`, { c: 'FOREIGN' }, 'stripe/not-your-customer'],
    ['setup intent: a malformed customer id', `mutation ($c: String) { stripeCreateSetupIntent(customerId: $c) { id } }`, { c: 'cus_<script>' }, 'stripe/invalid-input'],
    ['preview: an oversize subscription id', `query ($s: String!) { stripePreviewProration(subscriptionId: $s, price: "price_x1") { total } }`, { s: `sub_${BIG}` }, 'stripe/invalid-input'],
    ['preview: a zero quantity', `query ($s: String!, $p: String!) { stripePreviewProration(subscriptionId: $s, price: $p, quantity: 0) { total } }`, { s: 'MY_SUB', p: 'YEARLY' }, 'stripe/invalid-input'],
    ['change plan: a huge quantity', `mutation ($s: String!, $p: String!) { stripeChangePlan(subscriptionId: $s, price: $p, quantity: 1000000) { id } }`, { s: 'MY_SUB', p: 'YEARLY' }, 'stripe/invalid-input'],
    ['cancel: a malformed id', `mutation { stripeCancelSubscription(subscriptionId: "sub_'; drop table x;--") { id } }`, {}, 'stripe/invalid-input'],
    ['resume: an unknown subscription', `mutation { stripeResumeSubscription(subscriptionId: "sub_unknown000") { id } }`, {}, 'stripe/unknown-subscription'],
    ['invoices: a negative offset', `{ stripeInvoices(offset: -1) { id } }`, {}, 'stripe/invalid-input'],
  ])('%s', async (_what, doc, vars, code) => {
    const map: Record<string, string> = { FOREIGN: foreign, MY_SUB: mySub, YEARLY: yearly };
    const v = Object.fromEntries(Object.entries(vars).map(([k, x]) => [k, map[x as string] ?? x]));
    const before = env.fake.requests.filter((r) => r.method !== 'GET').length;
    expect(errorCode(await env.as('checker', doc, v))).toBe(code);
    expect(env.fake.requests.filter((r) => r.method !== 'GET').length).toBe(before);
  });

  it.each([
    ['a wrong type', `mutation { stripeCancelSubscription(subscriptionId: 42) { id } }`],
    ['a missing field', `mutation { stripeChangePlan(subscriptionId: "sub_abc") { id } }`],
    ['an unknown enum value', `mutation { stripeChangePlan(subscriptionId: "sub_abc", price: "price_abc", prorationBehavior: sometimes) { id } }`],
    ['an unknown argument', `mutation { stripeCreateSetupIntent(customer: "cus_abc") { id } }`],
  ])('refuses %s before the handler', async (_what, doc) => {
    const res = await env.as('checker', doc);
    expect(res.errors?.length).toBeGreaterThan(0);
    expect(res.data ?? null).toBeNull();
  });

  it('needs a user session', async () => {
    const res = await env.harness.graphql(`mutation { stripeCreateSetupIntent { id } }`, {}, { role: 'user' } as never);
    expect(errorCode(res as never)).toBe('stripe/no-user');
  });

  it('answers a repeated plan change with the same state', async () => {
    const CHANGE = `mutation ($s: String!, $p: String!) { stripeChangePlan(subscriptionId: $s, price: $p) { id status priceIds } }`;
    const a = await env.as('checker', CHANGE, { s: mySub, p: yearly });
    const b = await env.as('checker', CHANGE, { s: mySub, p: yearly });
    expect(a.errors).toBeUndefined();
    expect(b.data).toEqual(a.data);
    expect(await row(env.pool, `SELECT count(*)::int AS n FROM stripe.subscription_item WHERE parent_id = $1 AND NOT deleted`, [mySub])).toEqual({ n: 1 });
  });
});
