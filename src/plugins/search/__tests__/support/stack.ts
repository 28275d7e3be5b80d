/**
 * The search plugin end to end on the chat fixture project: `install search --index … --definitions …` renders
 * the sync triggers into the project's metadata, the harness loads it (the chat tables with our triggers, the
 * search actions), the real server answers, and two users with a private channel each search as themselves.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../../core/server.js';
import { install } from '../../../../hasura/installer.js';
import { suiteCatalog } from '../../../../hasura/catalog.js';
import { createHasuraHarness, type HasuraHarness } from '../../../../testing/index.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../../../../../test/support/db.js';
import { searchPlugin } from '../../plugin.js';
import type { PluginManifest } from '../../../../core/plugin.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFINITIONS = join(here, '..', '..', 'examples', 'chat-definitions.json');
const CHAT = join(here, '..', '..', '..', '..', '..', 'test', 'fixtures', 'projects', 'chat');
export const SECRET = 'search-e2e-secret-0123456789abcdef';
/** This plugin's Redis database. */
export const REDIS_DB = 5;
export const INDEXES = 'nchat_messages,nchat_channels,nchat_users';

export const ALICE = '00000000-0000-4000-8000-00000000000a';
export const BOB = '00000000-0000-4000-8000-00000000000b';
export const GENERAL = '10000000-0000-4000-8000-000000000001';
export const ALICE_PRIVATE = '10000000-0000-4000-8000-0000000000a1';
export const BOB_PRIVATE = '10000000-0000-4000-8000-0000000000b1';

export interface Stack {
  db: ScratchDatabase;
  pool: pg.Pool;
  runtime: ServerRuntime;
  server: NselfServer;
  harness: HasuraHarness;
  projectDir: string;
  /** A GraphQL document as `who` (a user id, or 'admin'). */
  as<D = any>(who: string, document: string, variables?: Record<string, unknown>): Promise<{ data?: D | null; errors?: Array<{ message: string; extensions?: any }> }>;
  message(channel: string, author: string, body: string, createdAt?: string): Promise<string>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Plugins the server runs (default: search alone, as on the PostgreSQL engine). */
  plugins?: PluginManifest<any>[];
  /**
   * BullMQ on its PostgreSQL backend inside the scratch database instead of Redis: test files run in parallel,
   * and on one shared Redis database one file's workers would take another file's jobs.
   */
  queueOnPostgres?: boolean;
}

export async function startStack(label: string, env: Record<string, string> = {}, opts: StackOptions = {}): Promise<Stack> {
  const root = mkdtempSync(join(tmpdir(), 'nself-search-'));
  const projectDir = join(root, 'hasura');
  cpSync(CHAT, projectDir, { recursive: true });
  install({
    projectDir,
    catalog: suiteCatalog(),
    plugins: ['search'],
    options: [
      { name: 'index', value: INDEXES },
      { name: 'definitions', value: DEFINITIONS },
      ...(env.SEARCH_ENGINE ? [{ name: 'engine', value: env.SEARCH_ENGINE }] : []),
    ],
    envDir: null,
  });
  const db = await createScratchDatabase(label);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  await pool.query(readFileSync(join(projectDir, 'migrations/default/1700000000000_init/up.sql'), 'utf8'));
  await pool.query(
    `insert into public.users (id, display_name) values ($1, 'Alice Liddell'), ($2, 'Bob Builder');
     insert into public.channels (id, name, topic, is_private) values ($3, 'general', 'Company news', false), ($4, 'alice-notes', 'private notes', true), ($5, 'bob-plans', 'secret plans', true);
     insert into public.channel_members (channel_id, user_id) values ($3, $1), ($3, $2), ($4, $1), ($5, $2);`.replace(/\$(\d)/g, (_, n) => `'${[ALICE, BOB, GENERAL, ALICE_PRIVATE, BOB_PRIVATE][Number(n) - 1]}'`),
  );
  const runtime = await createRuntime(
    {
      DATABASE_URL: db.url,
      ...(opts.queueOnPostgres ? { QUEUE_DB_POOL_MAX: '4' } : { REDIS_URL: `${REDIS_URL}/${REDIS_DB}` }),
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: process.env.SEARCH_TEST_LOG_LEVEL ?? 'silent',
      SEARCH_INDEXES: INDEXES,
      SEARCH_DEFINITIONS_FILE: DEFINITIONS,
      ...env,
    },
    { plugins: opts.plugins ?? [searchPlugin] },
  );
  const server = createServer(runtime);
  const { url } = await server.listen(0, '127.0.0.1');
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(projectDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, CHAT_FUNCTIONS_URL: 'http://127.0.0.1:9', CHAT_EVENT_SECRET: 'x', CHAT_DATABASE_URL: db.url },
    events: { fetchIntervalMs: 50 },
  });
  // The chat app's own message trigger calls its functions, which do not run here.
  await pool.query(`alter table public.messages disable trigger "notify_hasura_message_created_notify_INSERT"`);
  return {
    db,
    pool,
    runtime,
    server,
    harness,
    projectDir,
    as: (who, document, variables) =>
      harness.graphql(document, variables ?? {}, who === 'admin' ? null : { role: 'user', userId: who }) as never,
    async message(channel, author, body, createdAt) {
      const r = await pool.query<{ id: string }>('insert into public.messages (channel_id, author_id, body, created_at) values ($1, $2, $3, coalesce($4::timestamptz, now())) returning id', [channel, author, body, createdAt ?? null]);
      return r.rows[0]!.id;
    },
    async close() {
      await harness.close().catch(() => undefined);
      await server.shutdown('test').catch(() => undefined);
      await pool.end();
      await db.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export const QUERY = `query Q($index: String!, $q: String!, $filters: jsonb, $facets: [String!], $sort: [String!], $limit: Int, $cursor: String) {
  searchQuery(index: $index, q: $q, filters: $filters, facets: $facets, sort: $sort, limit: $limit, cursor: $cursor) {
    index hits { id score document highlights } query processingTimeMs estimatedTotal facets didYouMean cursor
  }
}`;
export const SUGGEST = `query S($index: String!, $q: String!) { searchSuggest(index: $index, q: $q) { suggestions } }`;
