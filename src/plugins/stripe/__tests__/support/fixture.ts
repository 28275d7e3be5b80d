/**
 * The stripe plugin end to end: the real server on a real port with job workers, the real `stripe` client
 * pointed at the strict fake, the composed hasura/metadata loaded into the harness, webhooks signed with the
 * library's own test header generator.
 */
import pg from 'pg';
import type Stripe from 'stripe';
import { startSuiteServer, type SuiteServer } from '../../../../../test/support/suite-server.js';
import { FakeStripe, FAKE_WEBHOOK_SECRET, deliver } from './fake-stripe.js';

export const SECRET = 'stripe-e2e-secret-0123456789abcdef';

export interface GraphQLResponse<D = any> {
  data?: D | null;
  errors?: Array<{ message: string; extensions?: any }>;
}

export interface StripeEnv extends SuiteServer {
  fake: FakeStripe;
  as<D = any>(who: string, document: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>>;
  deliver(event: unknown, opts?: Parameters<typeof deliver>[2]): ReturnType<typeof deliver>;
  /** Waits until no recorded event is pending (every one applied by its job). */
  settle(timeoutMs?: number): Promise<void>;
}

export const errorCode = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

/** `prepare` runs on the fresh scratch database before the server boots (the app's own tables). */
export async function startStripe(label: string, env: Record<string, string> = {}, prepare?: (pool: pg.Pool) => Promise<void>): Promise<StripeEnv> {
  const fake = await new FakeStripe().start();
  const suite = await startSuiteServer(label, {
    secret: SECRET,
    // BullMQ on its PostgreSQL backend inside the scratch database: the test files run in parallel, and on one
    // shared Redis database one file's worker would take another file's jobs.
    env: {
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      PUBLIC_URL: 'https://app.example.test',
      DATABASE_POOL_MAX: '6',
      QUEUE_DB_POOL_MAX: '4',
      JOBS_QUEUES: 'stripe.events,stripe.sync',
      JOBS_BACKOFF_JITTER: '0',
      STRIPE_WEBHOOK_SECRET: FAKE_WEBHOOK_SECRET,
      STRIPE_MAX_NETWORK_RETRIES: '1',
      ...fake.env,
      ...env,
    },
    ...(prepare ? { prepare } : {}),
  });
  const { pool, harness, url } = suite;
  return {
    ...suite,
    fake,
    as: (who, document, variables = {}) =>
      harness.graphql(document, variables, who === 'admin' ? null : { role: 'user', userId: who }) as Promise<GraphQLResponse>,
    deliver: (event, opts) => deliver(url, event, opts),
    async settle(timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM stripe.event WHERE status = 'pending'`);
        if (r.rows[0]!.n === '0') return;
        if (Date.now() > until) throw new Error(`${r.rows[0]!.n} events still pending`);
        await new Promise((res) => setTimeout(res, 30));
      }
    },
    async close() {
      await suite.close();
      await fake.stop();
    },
  };
}

export async function row<T = any>(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<T | undefined> {
  return (await pool.query(sql, params)).rows[0] as T | undefined;
}

/** Links an app user (or organisation) to a fresh customer of the fake, as the first checkout would. */
export async function linkedCustomer(env: StripeEnv, ownerId: string, ownerType: 'user' | 'organization' = 'user'): Promise<Stripe.Customer> {
  const c = env.fake.customer({ metadata: { nself_owner_type: ownerType, nself_owner_id: ownerId } });
  await env.pool.query(`INSERT INTO stripe.customer_link (owner_type, owner_id, customer_id) VALUES ($1, $2, $3)`, [ownerType, ownerId, c.id]);
  return c;
}
