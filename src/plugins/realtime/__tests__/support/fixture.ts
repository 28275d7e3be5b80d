/**
 * The realtime plugin end to end: the real server on a real port, the composed hasura/metadata loaded into
 * the harness, actions invoked from GraphQL documents as users, permissions read with harness.select.
 */
import pg from 'pg';
import type { PluginManifest } from '../../../../core/plugin.js';
import { REDIS_URL } from '../../../../../test/support/db.js';
import { startSuiteServer, type SuiteServer } from '../../../../../test/support/suite-server.js';

export const SECRET = 'realtime-e2e-secret-0123456789abcdef';
/** This plugin's Redis database (the jobs tests use 8–15, the core e2e test 7). */
export const REDIS_DB = 3;

export interface GraphQLResponse<D = any> {
  data?: D | null;
  errors?: Array<{ message: string; extensions?: any }>;
}

export interface Realtime extends SuiteServer {
  /** Runs a document as a user (`service` for the service role, `admin` for admin). */
  as<D = any>(who: string, document: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>>;
}

export const user = (id: string) => ({ role: 'user', userId: id });
export const SERVICE = { role: 'service' };

/** `extensions.code` of the first GraphQL error. */
export const errorCode = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

export async function startRealtime(label: string, env: Record<string, string> = {}, opts: { plugins?: readonly PluginManifest[] } = {}): Promise<Realtime> {
  const suite = await startSuiteServer(label, {
    secret: SECRET,
    env: { REDIS_URL: `${REDIS_URL}/${REDIS_DB}`, LOG_LEVEL: 'silent', JOBS_WORKERS: 'false', ...env },
    runtime: opts.plugins ? { plugins: opts.plugins } : {},
    poolMax: 4,
  });
  return {
    ...suite,
    as: (who, document, variables = {}) =>
      suite.harness.graphql(document, variables, who === 'admin' ? null : who === 'service' ? SERVICE : user(who)) as Promise<GraphQLResponse>,
  };
}

/** Creates rooms with members straight in the database (tests of other features start from there). */
export async function seedRoom(pool: pg.Pool, id: string, members: Record<string, 'owner' | 'admin' | 'member'>, isPrivate = false): Promise<void> {
  await pool.query('INSERT INTO realtime.room (id, private) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, isPrivate]);
  for (const [u, role] of Object.entries(members)) {
    await pool.query('INSERT INTO realtime.room_member (room_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [id, u, role]);
  }
}

export const count = async (pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> =>
  Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) s`, params)).rows[0]!.n);

export const T = {
  room: { schema: 'realtime', name: 'room' },
  member: { schema: 'realtime', name: 'room_member' },
  userPresence: { schema: 'realtime', name: 'user_presence' },
  presence: { schema: 'realtime', name: 'presence' },
  typing: { schema: 'realtime', name: 'active_typing' },
  event: { schema: 'realtime', name: 'event' },
  call: { schema: 'realtime', name: 'call' },
  participant: { schema: 'realtime', name: 'call_participant' },
  signal: { schema: 'realtime', name: 'signal' },
};

/**
 * Waits until the database clock is at least `marginSeconds` away from the end of its minute, so a burst that
 * a per-minute limit counts falls in one window (rate-limit windows start on the minute).
 */
export async function awayFromMinuteEdge(pool: pg.Pool, marginSeconds = 15): Promise<void> {
  const { rows } = await pool.query<{ s: number }>(`SELECT extract(second FROM now())::float8 AS s`);
  const left = 60 - rows[0]!.s;
  if (left < marginSeconds) await new Promise((r) => setTimeout(r, left * 1000 + 200));
}
