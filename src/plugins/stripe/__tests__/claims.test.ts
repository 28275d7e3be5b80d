/**
 * Plan claims in the oauth plugin's access tokens: with both plugins enabled, a token the oauth plugin issues
 * carries the user's plan and features from the stripe mirror, and follows a plan change at the next token.
 */
import { decodeJwt } from 'jose';
import { oauthCore } from '../../oauth/lib/service.js';
import { oauthClaims } from '../../oauth/lib/claims.js';
import { STRIPE_CLAIMS_HOOK } from '../lib/claims.js';
import { startStripe, linkedCustomer, type StripeEnv } from './support/fixture.js';

const JWT_SECRET = JSON.stringify({ type: 'HS256', key: 'stripe-claims-test-hmac-key-0123456789-abcdef' });
const HASURA = 'https://hasura.io/jwt/claims';

async function hasuraClaims(env: StripeEnv, userId: string): Promise<Record<string, unknown>> {
  const tokens = env.runtime.pluginRuntime('oauth').service(oauthCore).tokens!;
  const jwt = await tokens.accessToken({ id: userId, email: null, role: 'user' }, env.pool);
  return decodeJwt(jwt)[HASURA] as Record<string, unknown>;
}

describe('with the oauth plugin enabled', () => {
  let env: StripeEnv;
  beforeAll(async () => {
    env = await startStripe('stripe_claims', { OAUTH_JWT_SECRET: JWT_SECRET });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a user without a subscription is on the free plan with no features', async () => {
    const claims = await hasuraClaims(env, 'claims-nobody');
    expect(claims['x-hasura-user-id']).toBe('claims-nobody');
    expect(claims['x-hasura-plan']).toBe('free');
    expect(claims['x-hasura-features']).toBe('{}');
  });

  it('a subscribed user\'s next token carries the plan, and a cancellation reaches the token after it', async () => {
    const user = 'claims-subscriber';
    const customer = await linkedCustomer(env, user);
    const product = env.fake.product({ name: 'Team', metadata: { features: 'sso,audit-log', plan: 'team' } });
    const price = env.fake.price({ product: product.id });
    await env.deliver(env.fake.event('product.created', product));
    await env.deliver(env.fake.event('price.created', price));
    const sub = env.fake.subscription({ customer: customer.id, price: price.id, status: 'active' });
    const t0 = Math.floor(Date.now() / 1000) - 60;
    await env.deliver(env.fake.event('customer.subscription.created', sub, t0));
    await env.settle();
    const claims = await hasuraClaims(env, user);
    expect(claims['x-hasura-plan']).toBe('team');
    expect(claims['x-hasura-features']).toBe('{"audit-log","sso"}');
    // Another user's plan is not this one's.
    expect((await hasuraClaims(env, 'claims-nobody'))['x-hasura-plan']).toBe('free');

    await env.deliver(env.fake.event('customer.subscription.deleted', { ...sub, status: 'canceled', ended_at: t0 + 10 }, t0 + 10));
    await env.settle();
    const after = await hasuraClaims(env, user);
    expect(after['x-hasura-plan']).toBe('free');
    expect(after['x-hasura-features']).toBe('{}');
  });

  it('a plan name with quotes or commas stays one well-formed array element', async () => {
    const user = 'claims-odd-features';
    const customer = await linkedCustomer(env, user);
    const product = env.fake.product({ name: 'Odd', metadata: { features: 'say "hi",back\\slash', plan: 'odd' } });
    const price = env.fake.price({ product: product.id });
    await env.deliver(env.fake.event('product.created', product));
    const sub = env.fake.subscription({ customer: customer.id, price: price.id, status: 'trialing' });
    await env.deliver(env.fake.event('customer.subscription.created', sub));
    await env.settle();
    const claims = await hasuraClaims(env, user);
    expect(claims['x-hasura-plan']).toBe('odd');
    // PostgreSQL reads the literal back as the two features.
    const back = await env.pool.query<{ f: string[] }>('SELECT $1::text[] AS f', [claims['x-hasura-features']]);
    expect(back.rows[0]!.f.sort()).toEqual(['back\\slash', 'say "hi"'].sort());
  });
});

describe('with STRIPE_SESSION_CLAIMS=false', () => {
  let env: StripeEnv;
  beforeAll(async () => {
    env = await startStripe('stripe_claims_off', { OAUTH_JWT_SECRET: JWT_SECRET, STRIPE_SESSION_CLAIMS: 'false' });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('registers no hook, and tokens carry no plan', async () => {
    const registry = env.runtime.pluginRuntime('oauth').service(oauthClaims);
    expect(registry.size).toBe(0);
    const claims = await hasuraClaims(env, 'claims-off-user');
    expect(claims['x-hasura-plan']).toBeUndefined();
    expect(claims['x-hasura-user-id']).toBe('claims-off-user');
  });
});

describe('without the oauth plugin', () => {
  let env: StripeEnv;
  beforeAll(async () => {
    env = await startStripe('stripe_claims_no_oauth', { PLUGINS_ENABLED: 'core,jobs,stripe' });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('starts and registers nothing', async () => {
    expect(env.runtime.pluginRuntime('stripe').optionalService(oauthClaims)).toBeUndefined();
    expect(STRIPE_CLAIMS_HOOK).toBe('stripe');
  });
});
