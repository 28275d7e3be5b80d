/**
 * What a plugin's end-to-end fixture starts: the runtime (migrations applied) on a scratch database, the real
 * server on a port, a small pool for the test's own queries, and the Hasura harness over the metadata of the
 * enabled plugins. Fixtures add their plugin's settings, fakes and helpers around it.
 */
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../src/core/runtime.js';
import { createServer, type NselfServer } from '../../src/core/server.js';
import { createHasuraHarness, type HasuraHarness } from '../../src/testing/index.js';
import { createScratchDatabase, type ScratchDatabase } from './db.js';
import { harnessMetadataFor } from './metadata.js';

export interface SuiteServer {
  db: ScratchDatabase;
  runtime: ServerRuntime;
  server: NselfServer;
  harness: HasuraHarness;
  pool: pg.Pool;
  url: string;
  /** Harness, pool and server stopped, the scratch database dropped. */
  close(): Promise<void>;
}

export interface SuiteServerOptions {
  /** NSELF_PLUGINS_WEBHOOK_SECRET of the server, which the harness sends. */
  secret: string;
  /** Settings beyond DATABASE_URL and the secret (PLUGINS_ENABLED also picks the harness metadata). */
  env?: Record<string, string>;
  runtime?: Parameters<typeof createRuntime>[1];
  /** Default: any free port. */
  port?: number;
  /** The test's own pool (default 3 connections). */
  poolMax?: number;
  harnessPoolSize?: number;
  /** Runs on the fresh database before the server starts (tables of the app or of another product). */
  prepare?: (pool: pg.Pool) => Promise<void>;
}

export async function startSuiteServer(label: string, opts: SuiteServerOptions): Promise<SuiteServer> {
  const env = opts.env ?? {};
  const db = await createScratchDatabase(label);
  if (opts.prepare) {
    const setup = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await opts.prepare(setup);
    } finally {
      await setup.end();
    }
  }
  const runtime = await createRuntime({ DATABASE_URL: db.url, NSELF_PLUGINS_WEBHOOK_SECRET: opts.secret, ...env }, opts.runtime);
  const server = createServer(runtime);
  const { url } = await server.listen(opts.port ?? 0, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: opts.poolMax ?? 3 });
  pool.on('error', () => undefined); // the scratch database is dropped WITH (FORCE) at the end
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    ...harnessMetadataFor(env),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: opts.secret },
    events: { fetchIntervalMs: 50 },
    ...(opts.harnessPoolSize ? { poolSize: opts.harnessPoolSize } : {}),
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
