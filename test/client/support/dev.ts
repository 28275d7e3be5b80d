/**
 * `nself-plugins dev` with the plugins the client SDK covers, JWT authentication (HS256) as an app behind
 * Hasura has it, short refetch intervals, and tokens for users and the service role.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { startDev, type DevServer } from '../../../src/dev/start.js';
import { createScratchDatabase, type ScratchDatabase } from '../../support/db.js';
import { waitFor as waitUntil } from '../../support/wait.js';

export const JWT_KEY = 'client-sdk-test-key-0123456789abcdef0123456789';
export const SDK_PLUGINS = 'jobs,files,email,notifications,realtime';

export interface SdkDev {
  dev: DevServer;
  db: ScratchDatabase;
  graphqlUrl: string;
  token(sub: string, o?: { role?: string; roles?: string[]; expiresInSeconds?: number }): Promise<string>;
  close(): Promise<void>;
}

export interface SdkDevOptions {
  /** PLUGINS_ENABLED (default SDK_PLUGINS). */
  plugins?: string;
  /** A Hasura CLI v3 project served with the plugins (its migrations are applied). */
  projectDir?: string;
  /** The port, when something must know the server's URL before it starts (an OpenID Provider's redirect URIs). */
  port?: number;
}

export async function startSdkDev(label: string, env: Record<string, string> = {}, opts: SdkDevOptions = {}): Promise<SdkDev> {
  const db = await createScratchDatabase(label);
  const dataDir = mkdtempSync(join(tmpdir(), 'nself-sdk-'));
  // The files plugin signs upload URLs for PUBLIC_URL, so the port is chosen before the server starts.
  const port = opts.port ?? (await freePort());
  const dev = await startDev(
    {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      PLUGINS_ENABLED: opts.plugins ?? SDK_PLUGINS,
      JOBS_DIR: join(dataDir, 'no-jobs'),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: '50',
      HASURA_GRAPHQL_STREAMING_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: '50',
      HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL: '50',
      HASURA_GRAPHQL_ASYNC_ACTIONS_FETCH_INTERVAL: '50',
      ...env,
    },
    { port, host: '127.0.0.1', log: pino({ level: process.env.SDK_TEST_LOG ?? 'silent' }), ...(opts.projectDir ? { projectDir: opts.projectDir } : {}) },
  );
  const key = new TextEncoder().encode(JWT_KEY);
  return {
    dev,
    db,
    graphqlUrl: dev.graphqlUrl,
    async token(sub, o = {}) {
      const role = o.role ?? 'user';
      return new SignJWT({ 'https://hasura.io/jwt/claims': { 'x-hasura-allowed-roles': o.roles ?? [role], 'x-hasura-default-role': role, 'x-hasura-user-id': sub } })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresInSeconds ?? 3600))
        .sign(key);
    },
    async close() {
      await dev.stop();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { sleep } from '../../support/wait.js';

export const waitFor = <T>(fn: () => T | Promise<T>, ms = 10_000, what = 'condition') => waitUntil(fn, ms, what, 25);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
