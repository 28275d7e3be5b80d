/**
 * The suite as the webhooks tests run it: a scratch database, the runtime (migrations applied, BullMQ on its
 * PostgreSQL backend inside that database so test files never share a queue — or Redis database 6 when asked),
 * the real server, and the Hasura harness over the composed metadata. Receivers on 127.0.0.1 are reachable
 * through the development allow-list only.
 */
import { REDIS_URL } from '../../../../../test/support/db.js';
import { startSuiteServer, type SuiteServer } from '../../../../../test/support/suite-server.js';

import { dispatchDue } from '../../lib/deliver.js';
import { scheduleDelivery } from '../../lib/jobs.js';

export const SECRET = 'webhooks-test-secret-0123456789abcdef';
export const REDIS_DB = 6;
export const SERVICE = { role: 'service' };
export const as = (userId: string) => ({ role: 'user', userId });

export interface GraphQLResponse<D = any> {
  data?: D | null;
  errors?: Array<{ message: string; extensions?: any }>;
}

export interface Stack extends SuiteServer {
  env: Record<string, string>;
  gql<D = any>(who: string, document: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>>;
  /**
   * The retry clock: moves every time the plugin keeps `seconds` into the past (due times, failure streaks,
   * secret expiries), then runs the dispatcher, as if `seconds` had passed. A 3-day schedule runs in seconds.
   */
  advance(seconds: number): Promise<number>;
}

export const errorCode = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

export async function startStack(label: string, env: Record<string, string> = {}, opts: { redis?: boolean } = {}): Promise<Stack> {
  const fullEnv: Record<string, string> = {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    DATABASE_POOL_MAX: '8',
    QUEUE_DB_POOL_MAX: '4',
    JOBS_QUEUES: 'webhooks.deliver,notifications.push,notifications.email',
    WEBHOOKS_SSRF_ALLOW: '127.0.0.1/32',
    ...(opts.redis ? { REDIS_URL: `${REDIS_URL}/${REDIS_DB}` } : {}),
    ...env,
  };
  const suite = await startSuiteServer(label, { secret: SECRET, env: fullEnv, harnessPoolSize: 4 });
  const { runtime, harness, pool } = suite;
  const plugin = runtime.pluginRuntime('webhooks');
  return {
    ...suite,
    env: { DATABASE_URL: suite.db.url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, ...fullEnv },
    gql: (who, document, variables = {}) =>
      harness.graphql(document, variables, who === 'admin' ? null : who === 'service' ? SERVICE : as(who)) as Promise<GraphQLResponse>,
    async advance(seconds) {
      const s = [seconds];
      await pool.query(`update webhooks.delivery set next_attempt_at = next_attempt_at - make_interval(secs => $1) where status = 'pending'`, s);
      await pool.query(`update webhooks.delivery set lease_until = lease_until - make_interval(secs => $1) where status = 'sending'`, s);
      await pool.query(`update webhooks.endpoint set failing_since = failing_since - make_interval(secs => $1), last_success_at = last_success_at - make_interval(secs => $1)`, s);
      await pool.query(`update webhooks.attempt set created_at = created_at - make_interval(secs => $1), next_retry_at = next_retry_at - make_interval(secs => $1)`, s);
      await pool.query(`update webhooks.endpoint_secret set expires_at = expires_at - make_interval(secs => $1) where expires_at is not null`, s);
      await pool.query(`update webhooks.message set created_at = created_at - make_interval(secs => $1)`, s);
      return dispatchDue({ db: plugin.db, schedule: (id, attempt, delayMs, tag) => scheduleDelivery(plugin, id, attempt, delayMs, `${tag}-${Date.now()}`) }, { graceSeconds: 0 });
    },
  };
}

export { sleep, waitFor } from '../../../../../test/support/wait.js';

export const CREATE = `mutation ($url: String!, $eventTypes: [String!], $channels: [String!], $headers: jsonb, $rateLimit: Int, $retrySchedule: [Int!], $fifo: Boolean, $signatureScheme: WebhooksSignatureScheme, $ownerId: String) {
  webhooksCreateEndpoint(url: $url, eventTypes: $eventTypes, channels: $channels, headers: $headers, rateLimit: $rateLimit, retrySchedule: $retrySchedule, fifo: $fifo, signatureScheme: $signatureScheme, ownerId: $ownerId) {
    endpointId signatureScheme secret publicKey } }`;
export const EMIT = `mutation ($type: String!, $payload: jsonb!, $idempotencyKey: String, $channels: [String!], $orderingKey: String) {
  webhooksEmit(type: $type, payload: $payload, idempotencyKey: $idempotencyKey, channels: $channels, orderingKey: $orderingKey) { messageId created deliveries } }`;
export const REGISTER = `mutation ($name: String!, $description: String!, $schema: jsonb, $example: jsonb) {
  webhooksRegisterEventType(name: $name, description: $description, schema: $schema, example: $example) { name } }`;
