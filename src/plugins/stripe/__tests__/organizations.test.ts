/**
 * Organisations as owners of Stripe customers: the membership table named in the settings (checked at boot),
 * organizationId on the write actions with membership and billing-role checks in SQL, one customer per
 * organisation however many first calls race, and members reading their organisation's billing rows.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { migrationsDir } from '../../../core/paths.js';
import { createRuntime } from '../../../core/runtime.js';
import { createScratchDatabase } from '../../../../test/support/db.js';
import { startStripe, errorCode, row, linkedCustomer, type StripeEnv } from './support/fixture.js';

let env: StripeEnv;
let monthly: string;

const ORG_SETTINGS = {
  STRIPE_REDIRECT_ORIGINS: 'https://app.example.test',
  STRIPE_ORG_MEMBERS_TABLE: 'public.org_members',
  STRIPE_ORG_MEMBERS_ORG_COLUMN: 'org_id',
  STRIPE_ORG_MEMBERS_USER_COLUMN: 'user_id',
  STRIPE_ORG_MEMBERS_ROLE_COLUMN: 'role',
  STRIPE_ORG_BILLING_ROLES: 'owner, billing',
};
const CHECKOUT = `mutation ($items: [StripeCheckoutItem!]!, $org: String, $customerId: String) {
  stripeCreateCheckoutSession(items: $items, mode: subscription, successUrl: "https://app.example.test/ok", cancelUrl: "https://app.example.test/no", organizationId: $org, customerId: $customerId) { id url customerId } }`;
const PORTAL = `mutation ($org: String) { stripeCreatePortalSession(returnUrl: "https://app.example.test/billing", organizationId: $org) { url customerId } }`;
const INVOICES = `query ($org: String) { stripeInvoices(organizationId: $org) { id } }`;
const CANCEL = `mutation ($s: String!, $org: String) { stripeCancelSubscription(subscriptionId: $s, organizationId: $org) { id cancelAtPeriodEnd } }`;
const posts = (path: string) => env.fake.requests.filter((r) => r.method === 'POST' && r.path === path).length;

beforeAll(async () => {
  env = await startStripe('stripe_orgs', ORG_SETTINGS, async (pool) => {
    await pool.query(`CREATE TABLE public.org_members (org_id uuid NOT NULL, user_id text NOT NULL, role text NOT NULL, PRIMARY KEY (org_id, user_id))`);
  });
  const pro = env.fake.product({ name: 'Team', metadata: { features: 'sso', plan: 'team' } });
  const price = env.fake.price({ product: pro.id, unitAmount: 3000 });
  monthly = price.id;
  await env.deliver(env.fake.event('product.created', pro));
  await env.deliver(env.fake.event('price.created', price));
  await env.settle();
});
afterAll(async () => {
  await env?.close();
});

/** A fresh organisation (a uuid, as the app's table holds it) with these members and roles. */
async function organisation(members: Record<string, string>): Promise<string> {
  const id = (await row<{ id: string }>(env.pool, 'SELECT gen_random_uuid()::text AS id'))!.id;
  for (const [user, role] of Object.entries(members)) {
    await env.pool.query('INSERT INTO public.org_members (org_id, user_id, role) VALUES ($1, $2, $3)', [id, user, role]);
  }
  return id;
}

describe('organisation checkout', () => {
  it('creates one customer for the organisation however many first checkouts race', async () => {
    const org = await organisation({ 'o1-owner': 'owner', 'o1-biller': 'billing' });
    const before = posts('/v1/customers');
    const results = await Promise.all([
      env.as('o1-owner', CHECKOUT, { items: [{ price: monthly }], org }),
      env.as('o1-biller', CHECKOUT, { items: [{ price: monthly }], org }),
      env.as('o1-owner', CHECKOUT, { items: [{ price: monthly, quantity: 3 }], org }),
    ]);
    for (const r of results) expect(r.errors).toBeUndefined();
    const ids = new Set(results.map((r) => r.data.stripeCreateCheckoutSession.customerId));
    expect(ids.size).toBe(1);
    const [customerId] = [...ids] as [string];
    // Every request that found no link yet asked Stripe with the organisation's idempotency key; Stripe made one customer.
    const asked = env.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/customers').slice(before);
    expect(asked.length).toBeGreaterThanOrEqual(1);
    for (const r of asked) expect(r.headers['idempotency-key']).toBe(`nself-customer-organization-${org}`);
    expect([...env.fake.store.get('customers')!.values()].filter((c) => c.metadata?.nself_owner_id === org)).toHaveLength(1);
    expect(env.fake.get('customers', customerId)!.metadata).toEqual({ nself_owner_type: 'organization', nself_owner_id: org });
    expect((await env.pool.query(`SELECT owner_type, owner_id, customer_id FROM stripe.customer_link WHERE owner_id = $1`, [org])).rows).toEqual([
      { owner_type: 'organization', owner_id: org, customer_id: customerId },
    ]);
    // The members' own (user) customers are untouched: none was created.
    expect(await row(env.pool, `SELECT 1 AS x FROM stripe.customer_link WHERE owner_type = 'user' AND owner_id IN ('o1-owner', 'o1-biller')`)).toBeUndefined();
    const sent = env.fake.requests.filter((r) => r.path === '/v1/checkout/sessions').at(-1)!;
    expect(sent.params).toMatchObject({ customer: customerId, metadata: { nself_organization_id: org } });
  });

  it('refuses non-members, members without a billing role, and another organisation\'s customer', async () => {
    const a = await organisation({ 'o2-owner': 'owner', 'o2-member': 'member' });
    const b = await organisation({ 'o3-owner': 'owner' });
    const bCustomer = await linkedCustomer(env, b, 'organization');
    const customersBefore = posts('/v1/customers');
    const sessionsBefore = posts('/v1/checkout/sessions');
    expect(errorCode(await env.as('stranger', CHECKOUT, { items: [{ price: monthly }], org: a }))).toBe('stripe/not-a-member');
    expect(errorCode(await env.as('o2-member', CHECKOUT, { items: [{ price: monthly }], org: a }))).toBe('stripe/not-billing-manager');
    expect(errorCode(await env.as('o2-member', PORTAL, { org: a }))).toBe('stripe/not-billing-manager');
    // An owner of A naming B's organisation, or B's customer under A's organisation.
    expect(errorCode(await env.as('o2-owner', CHECKOUT, { items: [{ price: monthly }], org: b }))).toBe('stripe/not-a-member');
    expect(errorCode(await env.as('o2-owner', CHECKOUT, { items: [{ price: monthly }], org: a, customerId: bCustomer.id }))).toBe('stripe/not-your-customer');
    // A user's own call cannot reach the organisation's customer by naming it either.
    expect(errorCode(await env.as('o3-owner', CHECKOUT, { items: [{ price: monthly }], customerId: bCustomer.id }))).toBe('stripe/not-your-customer');
    // Bad organisation ids: oversize, wrong type (before the handler), spaces.
    expect(errorCode(await env.as('o2-owner', CHECKOUT, { items: [{ price: monthly }], org: 'x'.repeat(201) }))).toBe('stripe/invalid-input');
    expect(errorCode(await env.as('o2-owner', CHECKOUT, { items: [{ price: monthly }], org: 'a b' }))).toBe('stripe/invalid-input');
    expect((await env.as('o2-owner', CHECKOUT, { items: [{ price: monthly }], org: 42 })).errors?.length).toBeGreaterThan(0);
    expect(posts('/v1/customers')).toBe(customersBefore);
    expect(posts('/v1/checkout/sessions')).toBe(sessionsBefore);
    expect(await row(env.pool, `SELECT 1 AS x FROM stripe.customer_link WHERE owner_id = $1`, [a])).toBeUndefined();
    // A billing manager of A may; an admin may act for any organisation.
    expect((await env.as('o2-owner', PORTAL, { org: a })).errors).toBeUndefined();
    expect((await env.as('admin', PORTAL, { org: b })).data.stripeCreatePortalSession.customerId).toBe(bCustomer.id);
  });

  it('lets every member read invoices but only billing roles manage subscriptions', async () => {
    const org = await organisation({ 'o4-owner': 'owner', 'o4-member': 'member' });
    const other = await organisation({ 'o5-owner': 'owner' });
    const c = await linkedCustomer(env, org, 'organization');
    const sub = env.fake.subscription({ customer: c.id, price: monthly });
    const inv = env.fake.invoice({ customer: c.id, status: 'paid' });
    await env.deliver(env.fake.event('customer.subscription.created', sub, Math.floor(Date.now() / 1000) - 60));
    await env.deliver(env.fake.event('invoice.paid', inv));
    await env.settle();
    expect((await env.as('o4-member', INVOICES, { org })).data.stripeInvoices).toEqual([{ id: inv.id }]);
    expect(errorCode(await env.as('o5-owner', INVOICES, { org }))).toBe('stripe/not-a-member');
    // Without organizationId the member's own (no) customer: nothing.
    expect((await env.as('o4-member', INVOICES, {})).data.stripeInvoices).toEqual([]);
    expect(errorCode(await env.as('o4-member', CANCEL, { s: sub.id, org }))).toBe('stripe/not-billing-manager');
    // The owner of another organisation naming its own organisation: the subscription is hidden.
    expect(errorCode(await env.as('o5-owner', CANCEL, { s: sub.id, org: other }))).toBe('stripe/unknown-subscription');
    // Without organizationId even the owner's call is for their own customer's subscriptions only.
    expect(errorCode(await env.as('o4-owner', CANCEL, { s: sub.id }))).toBe('stripe/unknown-subscription');
    expect(env.fake.get('subscriptions', sub.id)!.cancel_at_period_end).toBe(false);
    const res = await env.as('o4-owner', CANCEL, { s: sub.id, org });
    expect(res.errors).toBeUndefined();
    expect(res.data.stripeCancelSubscription).toEqual({ id: sub.id, cancelAtPeriodEnd: true });
  });

  it('follows membership changes at once (no cache): a removed member is refused', async () => {
    const org = await organisation({ 'o6-owner': 'owner' });
    expect((await env.as('o6-owner', PORTAL, { org })).errors).toBeUndefined();
    await env.pool.query(`UPDATE public.org_members SET role = 'member' WHERE org_id = $1`, [org]);
    expect(errorCode(await env.as('o6-owner', PORTAL, { org }))).toBe('stripe/not-billing-manager');
    await env.pool.query(`DELETE FROM public.org_members WHERE org_id = $1`, [org]);
    expect(errorCode(await env.as('o6-owner', PORTAL, { org }))).toBe('stripe/not-a-member');
  });
});

describe('the membership view', () => {
  it('survives a re-run of the migration while the server runs', async () => {
    const org = await organisation({ 'v-owner': 'owner' });
    await env.pool.query(await readFile(join(migrationsDir, '1764007100000_stripe_owners', 'up.sql'), 'utf8'));
    expect((await env.pool.query('SELECT organization_id, user_id, can_manage_billing FROM stripe.organization_member WHERE user_id = $1', ['v-owner'])).rows).toEqual([
      { organization_id: org, user_id: 'v-owner', can_manage_billing: true },
    ]);
    expect((await env.as('v-owner', PORTAL, { org })).errors).toBeUndefined();
  });
});

describe('members read their organisation\'s billing rows', () => {
  it('through the read permissions, and nobody else does', async () => {
    const org = await organisation({ 'r-owner': 'owner', 'r-member': 'member' });
    const other = await organisation({ 'r-other': 'owner' });
    const c = await linkedCustomer(env, org, 'organization');
    const d = await linkedCustomer(env, other, 'organization');
    for (const x of [c, d]) {
      await env.deliver(env.fake.event('customer.subscription.created', env.fake.subscription({ customer: x.id, price: monthly })));
      await env.deliver(env.fake.event('invoice.finalized', env.fake.invoice({ customer: x.id })));
    }
    await env.settle();
    const customers = (rows: Record<string, unknown>[]) => rows.map((r) => r.customer_id);
    for (const member of ['r-owner', 'r-member']) {
      const me = { userId: member };
      expect(customers(await env.harness.select('user', me, { schema: 'stripe', name: 'subscription' }))).toEqual([c.id]);
      expect(customers(await env.harness.select('user', me, { schema: 'stripe', name: 'invoice' }))).toEqual([c.id]);
      expect(customers(await env.harness.select('user', me, { schema: 'stripe', name: 'customer_link' }))).toEqual([c.id]);
      const plans = await env.harness.select('user', me, { schema: 'stripe', name: 'owner_plan' });
      expect(plans).toEqual([expect.objectContaining({ owner_type: 'organization', owner_id: org, plan: 'team', features: ['sso'] })]);
      expect(customers(await env.harness.select('user', me, { schema: 'stripe', name: 'entitlement' }))).toEqual([c.id]);
    }
    expect(customers(await env.harness.select('user', { userId: 'r-other' }, { schema: 'stripe', name: 'subscription' }))).toEqual([d.id]);
    expect(customers(await env.harness.select('user', { userId: 'r-stranger' }, { schema: 'stripe', name: 'subscription' }))).toEqual([]);
    expect(await env.harness.select('user', { userId: 'r-stranger' }, { schema: 'stripe', name: 'owner_plan' })).toEqual([]);
    // A user whose id equals an organisation id does not become its member.
    expect(customers(await env.harness.select('user', { userId: org }, { schema: 'stripe', name: 'subscription' }))).toEqual([]);
    // Members see their own membership rows only.
    expect(await env.harness.select('user', { userId: 'r-member' }, { schema: 'stripe', name: 'organization_member' })).toEqual([
      { organization_id: org, user_id: 'r-member', can_manage_billing: false },
    ]);
  });
});

describe('dunning for an organisation', () => {
  it('notifies the members who manage billing, once', async () => {
    const org = await organisation({ 'd-owner': 'owner', 'd-biller': 'billing', 'd-member': 'member' });
    const c = await linkedCustomer(env, org, 'organization');
    const ev = env.fake.event('invoice.payment_failed', env.fake.invoice({ customer: c.id, amountDue: 4200 }));
    await env.deliver(ev);
    await env.deliver(ev);
    await env.settle();
    await env.harness.drain({ timeoutMs: 10_000 });
    const [billing] = (await env.harness.eventLog('stripe_billing_event_notify')).filter((e) => (e.payload as any).data.new.owner_id === org);
    await env.harness.redeliverEvent(billing!.id);
    await env.harness.drain({ timeoutMs: 10_000 });
    const sent = await env.pool.query(`SELECT user_id, category FROM notifications.notification WHERE user_id LIKE 'd-%' ORDER BY user_id`);
    expect(sent.rows).toEqual([
      { user_id: 'd-biller', category: 'stripe.payment_failed' },
      { user_id: 'd-owner', category: 'stripe.payment_failed' },
    ]);
  });
});

describe('boot checks', () => {
  async function bootWith(settings: Record<string, string>, table?: string): Promise<unknown> {
    const db = await createScratchDatabase('stripe_orgs_boot');
    try {
      if (table) {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        await c.query(table);
        await c.end();
      }
      const runtime = await createRuntime({
        DATABASE_URL: db.url,
        NSELF_PLUGINS_WEBHOOK_SECRET: 'stripe-boot-secret-0123456789abcdef',
        LOG_LEVEL: 'silent',
        PUBLIC_URL: 'https://app.example.test',
        DATABASE_POOL_MAX: '2',
        QUEUE_DB_POOL_MAX: '2',
        PLUGINS_ENABLED: 'jobs,stripe',
        ...settings,
      });
      await runtime.close();
      return null;
    } catch (e) {
      return e;
    } finally {
      await db.drop();
    }
  }
  const TABLE = 'CREATE TABLE public.members (team_id bigint, account text, role text)';

  it('refuses a missing table, a missing column, and a table without its columns', async () => {
    expect(String(await bootWith({ STRIPE_ORG_MEMBERS_TABLE: 'public.nope', STRIPE_ORG_MEMBERS_ORG_COLUMN: 'team_id', STRIPE_ORG_MEMBERS_USER_COLUMN: 'account' }))).toMatch(
      /no table or view public\.nope/,
    );
    expect(
      String(await bootWith({ STRIPE_ORG_MEMBERS_TABLE: 'public.members', STRIPE_ORG_MEMBERS_ORG_COLUMN: 'team_id', STRIPE_ORG_MEMBERS_USER_COLUMN: 'account', STRIPE_ORG_MEMBERS_ROLE_COLUMN: 'rank' }, TABLE)),
    ).toMatch(/STRIPE_ORG_MEMBERS_ROLE_COLUMN: public\.members has no column rank/);
    expect(String(await bootWith({ STRIPE_ORG_MEMBERS_TABLE: 'public.members' }, TABLE))).toMatch(/needs STRIPE_ORG_MEMBERS_ORG_COLUMN/);
    expect(String(await bootWith({ STRIPE_ORG_MEMBERS_TABLE: 'public.members; drop table x', STRIPE_ORG_MEMBERS_ORG_COLUMN: 'team_id', STRIPE_ORG_MEMBERS_USER_COLUMN: 'account' }))).toMatch(/STRIPE_ORG_MEMBERS_TABLE/);
    // And boots with a good one (a bigint organisation id is compared as text).
    expect(await bootWith({ STRIPE_ORG_MEMBERS_TABLE: 'public.members', STRIPE_ORG_MEMBERS_ORG_COLUMN: 'team_id', STRIPE_ORG_MEMBERS_USER_COLUMN: 'account' }, TABLE)).toBeNull();
  });
});
