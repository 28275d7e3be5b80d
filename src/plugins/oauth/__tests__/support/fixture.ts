/**
 * The oauth plugin end to end: the real server on a real port, the composed hasura/metadata in the harness,
 * a real OpenID Provider, and browsers with cookie jars.
 */
import { join } from 'node:path';
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../../core/server.js';
import { hasuraDir } from '../../../../core/paths.js';
import { createHasuraHarness, type HasuraHarness } from '../../../../testing/index.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../../../../../test/support/db.js';
import { freePort } from './idp.js';

export const SECRET = 'oauth-e2e-secret-0123456789abcdef';
/** This plugin's Redis database. */
export const REDIS_DB = 4;
export const HS_KEY = 'oauth-test-hmac-key-0123456789-abcdefghijkl';
export const APP = 'https://app.example.com/auth/done';

export interface GraphQLResponse<D = any> {
  data?: D | null;
  errors?: Array<{ message: string; extensions?: any }>;
}

export interface OAuthEnv {
  db: ScratchDatabase;
  runtime: ServerRuntime;
  server: NselfServer;
  harness: HasuraHarness;
  pool: pg.Pool;
  url: string;
  /** Runs a document without a session (`public`), as a user id, or as `service`/`admin`. */
  as<D = any>(who: string | null, document: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>>;
  close(): Promise<void>;
}

export const errorCode = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

/** Reserves the server's port first: the provider must know the callback URL before the server exists. */
export async function reservePublicUrl(): Promise<{ port: number; publicUrl: string }> {
  const port = await freePort();
  return { port, publicUrl: `http://127.0.0.1:${port}` };
}

/** `prepare` runs on the fresh database before the server starts (tables of another product the plugin uses). */
export async function startOAuth(label: string, port: number, env: Record<string, string>, prepare?: (pool: pg.Pool) => Promise<void>): Promise<OAuthEnv> {
  const db = await createScratchDatabase(label);
  if (prepare) {
    const setup = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await prepare(setup);
    } finally {
      await setup.end();
    }
  }
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    REDIS_URL: `${REDIS_URL}/${REDIS_DB}`,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    JOBS_WORKERS: 'false',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    OAUTH_JWT_SECRET: JSON.stringify({ type: 'HS256', key: HS_KEY }),
    OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com/auth/',
    ...env,
  });
  const server = createServer(runtime);
  const { url } = await server.listen(port, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 50 },
  });
  return {
    db,
    runtime,
    server,
    harness,
    pool,
    url,
    as: (who, document, variables = {}) =>
      harness.graphql(
        document,
        variables,
        who === 'admin' ? null : who === null ? { role: 'public' } : who === 'service' ? { role: 'service' } : { role: 'user', userId: who },
      ) as Promise<GraphQLResponse>,
    async close() {
      await harness.close();
      await pool.end();
      await server.shutdown('test done');
      await db.drop();
    },
  };
}

export const count = async (pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> =>
  Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) s`, params)).rows[0]!.n);

export const START = 'mutation ($provider: String!, $redirectTo: String!, $link: Boolean) { oauthStart(provider: $provider, redirectTo: $redirectTo, link: $link) { url expiresAt } }';
export const EXCHANGE = 'mutation ($code: String!) { oauthExchangeCode(code: $code) { accessToken refreshToken expiresIn created linked user { id email displayName avatarUrl } } }';
export const REFRESH = 'mutation ($t: String!) { oauthRefresh(refreshToken: $t) { accessToken refreshToken expiresIn user { id } } }';
export const SIGN_OUT = 'mutation ($t: String, $all: Boolean) { oauthSignOut(refreshToken: $t, all: $all) { revoked } }';
export const IDENTITIES = '{ oauthIdentities { id provider email emailVerified name } }';
export const UNLINK = 'mutation ($id: uuid!) { oauthUnlink(identityId: $id) { id unlinked } }';
export const PROVIDERS = '{ oauthProviders { id displayName kind } }';
