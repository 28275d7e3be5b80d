/**
 * The whole suite as a test runs it: a scratch database, the runtime with every plugin (migrations applied),
 * the real server on a free port, and the Hasura harness over the composed metadata. The job queue runs on
 * BullMQ's PostgreSQL backend inside the scratch database, so files running in parallel never share a queue.
 */
import { startSuiteServer, type SuiteServer } from '../../../../../test/support/suite-server.js';


export const SECRET = 'email-notifications-test-secret-0123456789';

export type Stack = SuiteServer;

export async function startStack(label: string, env: Record<string, string> = {}): Promise<Stack> {
  return startSuiteServer(label, {
    secret: SECRET,
    env: {
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      JOBS_DIR: '/nonexistent-app-jobs',
      JOBS_DASHBOARD_ENABLED: 'false',
      // The machine's PostgreSQL is shared by every test file running at once: small pools, and workers only for
      // the queues these plugins use (each PostgreSQL-backed worker holds a LISTEN connection).
      DATABASE_POOL_MAX: '5',
      QUEUE_DB_POOL_MAX: '4',
      JOBS_QUEUES: 'email.send,notifications.push,notifications.email,notifications.sms',
      ...env,
    },
    harnessPoolSize: 5,
  });
}

export { sleep, waitFor } from '../../../../../test/support/wait.js';

/** `extensions.code` of the first GraphQL error. */
export const errorCode = (res: { errors?: Array<{ extensions?: unknown }> }) => (res.errors?.[0]?.extensions as { code?: string } | undefined)?.code;
