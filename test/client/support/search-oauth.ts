/**
 * `nself-plugins dev` with the search and oauth plugins on the chat fixture project: search installed with the
 * chat example's indexes (two users, a shared channel and a private channel each, so each user may find some
 * messages and not others), and sign-in through a real OpenID Provider (oidc-provider) issuing Hasura sessions
 * with the same HS256 key the endpoint verifies.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { packageRoot } from '../../../src/core/paths.js';
import { install } from '../../../src/hasura/installer.js';
import { suiteCatalog } from '../../../src/hasura/catalog.js';
import { startIdp, type Idp } from '../../../src/plugins/oauth/__tests__/support/idp.js';
import { freePort, JWT_KEY, startSdkDev, type SdkDev } from './dev.js';

export const ALICE = '00000000-0000-4000-8000-00000000000a';
export const BOB = '00000000-0000-4000-8000-00000000000b';
export const GENERAL = '10000000-0000-4000-8000-000000000001';
export const ALICE_PRIVATE = '10000000-0000-4000-8000-0000000000a1';
export const BOB_PRIVATE = '10000000-0000-4000-8000-0000000000b1';
export const PROVIDER = 'idp';
const DEFINITIONS = join(packageRoot, 'src/plugins/search/examples/chat-definitions.json');
const INDEXES = 'nchat_messages,nchat_channels,nchat_users';

export interface SearchOAuthDev extends SdkDev {
  idp: Idp;
  pool: pg.Pool;
  /** Inserts a chat message; answers its id. */
  message(channel: string, author: string, body: string): Promise<string>;
}

/** `redirectAllowlist`: where the oauth plugin may send the browser back to (OAUTH_REDIRECT_ALLOWLIST). */
export async function startSearchOAuthDev(label: string, redirectAllowlist: string): Promise<SearchOAuthDev> {
  const root = mkdtempSync(join(tmpdir(), 'nself-sdk-chat-'));
  const projectDir = join(root, 'hasura');
  cpSync(join(packageRoot, 'test/fixtures/projects/chat'), projectDir, { recursive: true });
  install({ projectDir, catalog: suiteCatalog(), plugins: ['search'], options: [{ name: 'index', value: INDEXES }, { name: 'definitions', value: DEFINITIONS }], envDir: null });
  // The provider must know the callback URL, so the server's port is chosen first.
  const port = await freePort();
  const idp = await startIdp([`http://127.0.0.1:${port}/hooks/oauth/${PROVIDER}/callback`]);
  const dev = await startSdkDev(
    label,
    {
      SEARCH_INDEXES: INDEXES,
      SEARCH_DEFINITIONS_FILE: DEFINITIONS,
      OAUTH_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      OAUTH_REDIRECT_ALLOWLIST: redirectAllowlist,
      OAUTH_OIDC_PROVIDERS: PROVIDER,
      OAUTH_OIDC_IDP_ISSUER: idp.issuer,
      OAUTH_OIDC_IDP_CLIENT_ID: idp.clientId,
      OAUTH_OIDC_IDP_CLIENT_SECRET: idp.clientSecret,
      OAUTH_OIDC_IDP_DISPLAY_NAME: 'Test IdP',
      HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'public',
      // The chat project's own webhooks (nothing here serves them).
      CHAT_FUNCTIONS_URL: 'http://127.0.0.1:9',
      CHAT_EVENT_SECRET: 'unused',
    },
    { plugins: 'search,oauth', projectDir, port },
  );
  const pool = new pg.Pool({ connectionString: dev.db.url, max: 2 });
  pool.on('error', () => undefined);
  // The chat app's own trigger calls its functions, which do not run here.
  await pool.query(`alter table public.messages disable trigger "notify_hasura_message_created_notify_INSERT"`);
  await pool.query(
    `insert into public.users (id, display_name) values ($1, 'Alice Liddell'), ($2, 'Bob Builder');
     insert into public.channels (id, name, topic, is_private) values ($3, 'general', 'Company news', false), ($4, 'alice-notes', 'private notes', true), ($5, 'bob-plans', 'secret plans', true);
     insert into public.channel_members (channel_id, user_id) values ($3, $1), ($3, $2), ($4, $1), ($5, $2);`.replace(/\$(\d)/g, (_, n) => `'${[ALICE, BOB, GENERAL, ALICE_PRIVATE, BOB_PRIVATE][Number(n) - 1]}'`),
  );
  return {
    ...dev,
    idp,
    pool,
    async message(channel, author, body) {
      const r = await pool.query<{ id: string }>('insert into public.messages (channel_id, author_id, body) values ($1, $2, $3) returning id', [channel, author, body]);
      return r.rows[0]!.id;
    },
    async close() {
      await pool.end();
      await dev.close();
      await idp.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
