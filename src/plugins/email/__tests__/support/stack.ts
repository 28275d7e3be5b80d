/**
 * The whole suite as a test runs it: a scratch database, the runtime with every plugin (migrations applied),
 * the real server on a free port, and the Hasura harness over the composed metadata. The job queue runs on
 * BullMQ's PostgreSQL backend inside the scratch database, so files running in parallel never share a queue.
 */
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../../core/server.js';
import { createHasuraHarness, type HasuraHarness } from '../../../../testing/index.js';
import { harnessMetadataFor } from '../../../../../test/support/metadata.js';
import { createScratchDatabase, type ScratchDatabase } from '../../../../../test/support/db.js';

export const SECRET = 'email-notifications-test-secret-0123456789';

export interface Stack {
  db: ScratchDatabase;
  runtime: ServerRuntime;
  server: NselfServer;
  harness: HasuraHarness;
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
}

export async function startStack(label: string, env: Record<string, string> = {}): Promise<Stack> {
  const db = await createScratchDatabase(label);
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    // The machine's PostgreSQL is shared by every test file running at once: small pools, and workers only for
    // the queues these plugins use (each PostgreSQL-backed worker holds a LISTEN connection).
    DATABASE_POOL_MAX: '5',
    QUEUE_DB_POOL_MAX: '4',
    JOBS_QUEUES: 'email.send,notifications.push,notifications.email,notifications.sms',
    ...env,
  });
  const server = createServer(runtime);
  const { url } = await server.listen(0, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pool.on('error', () => undefined);
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    ...harnessMetadataFor(env),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 50 },
    poolSize: 5,
  });
  return {
    db,
    runtime,
    server,
    harness,
    pool,
    url,
    async close() {
      await harness.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await server.shutdown('test done').catch(() => undefined);
      await db.drop();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** `extensions.code` of the first GraphQL error. */
export const errorCode = (res: { errors?: Array<{ extensions?: unknown }> }) => (res.errors?.[0]?.extensions as { code?: string } | undefined)?.code;
