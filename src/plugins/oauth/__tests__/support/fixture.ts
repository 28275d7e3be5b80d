/**
 * The oauth plugin end to end: the real server on a real port, the composed hasura/metadata in the harness,
 * a real OpenID Provider, and browsers with cookie jars.
 */
import type pg from 'pg';
import { REDIS_URL } from '../../../../../test/support/db.js';
import { startSuiteServer, type SuiteServer } from '../../../../../test/support/suite-server.js';
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

export interface OAuthEnv extends SuiteServer {
  /** Runs a document without a session (`public`), as a user id, or as `service`/`admin`. */
  as<D = any>(who: string | null, document: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>>;
}

export const errorCode = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

/** Reserves the server's port first: the provider must know the callback URL before the server exists. */
export async function reservePublicUrl(): Promise<{ port: number; publicUrl: string }> {
  const port = await freePort();
  return { port, publicUrl: `http://127.0.0.1:${port}` };
}

/** `prepare` runs on the fresh database before the server starts (tables of another product the plugin uses). */
export async function startOAuth(label: string, port: number, env: Record<string, string>, prepare?: (pool: pg.Pool) => Promise<void>): Promise<OAuthEnv> {
  const suite = await startSuiteServer(label, {
    secret: SECRET,
    env: {
      REDIS_URL: `${REDIS_URL}/${REDIS_DB}`,
      LOG_LEVEL: 'silent',
      JOBS_WORKERS: 'false',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OAUTH_JWT_SECRET: JSON.stringify({ type: 'HS256', key: HS_KEY }),
      OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com/auth/',
      ...env,
    },
    port,
    poolMax: 4,
    ...(prepare ? { prepare } : {}),
  });
  return {
    ...suite,
    as: (who, document, variables = {}) =>
      suite.harness.graphql(
        document,
        variables,
        who === 'admin' ? null : who === null ? { role: 'public' } : who === 'service' ? { role: 'service' } : { role: 'user', userId: who },
      ) as Promise<GraphQLResponse>,
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
