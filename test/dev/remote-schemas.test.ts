/**
 * A plugin's remote schema through the dev endpoint, as Hasura serves it: introspected at start through the
 * real handler server, its root fields beside the tables' in one request, forwarded with the shared secret and
 * the caller's session, its errors passed on beside the data, and (with remote schema permissions on) only
 * for roles with a permission. The metadata comes from the installer, with the features the server runs.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../src/core/runtime.js';
import { createServer, type NselfServer } from '../../src/core/server.js';
import { createDevEndpoint, type DevEndpoint } from '../../src/dev/endpoint.js';
import { devMetadata } from '../../src/dev/project.js';
import { fixtureCatalog, fixtureMigrationsDir, mediaPlugin } from '../fixtures/plugins/catalog.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../support/db.js';
import { captureLog } from '../core/helpers.js';

const SECRET = 'remote-schema-secret-0123456789';
const ADMIN = 'dev-admin-secret';
const catalog = fixtureCatalog([mediaPlugin]);

let db: ScratchDatabase;
let runtime: ServerRuntime;
let server: NselfServer;
let handlerUrl: string;
const endpoints: DevEndpoint[] = [];

beforeAll(async () => {
  db = await createScratchDatabase('dev_remote');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(readFileSync(join(fixtureMigrationsDir, '1800000000400_media_init', 'up.sql'), 'utf8'));
  await c.query("insert into media.item (owner_id, name, size) values ('u1', 'a.png', 10), ('u2', 'b.png', 20)");
  await c.end();
  runtime = await createRuntime(
    { DATABASE_URL: db.url, REDIS_URL, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, PLUGINS_ENABLED: 'media' },
    { plugins: [mediaPlugin], migrate: false, actionsSdl: () => readFileSync(join(fixtureMigrationsDir, '..', 'media', 'actions.graphql'), 'utf8'), log: captureLog().log, defaultMetrics: false },
  );
  server = createServer(runtime);
  handlerUrl = (await server.listen(0, '127.0.0.1')).url;
});
afterAll(async () => {
  for (const e of endpoints) await e.close();
  await server?.shutdown('test done');
  await db?.drop();
});

async function endpoint(env: Record<string, string> = {}, secret = SECRET) {
  const e = await createDevEndpoint({
    databaseUrl: db.url,
    metadata: devMetadata({ catalog, plugins: ['media'], features: new Map([['media', ['thumbnails']]]) }) as unknown as Record<string, unknown>,
    handlerBaseUrl: handlerUrl,
    env: { NSELF_PLUGINS_WEBHOOK_SECRET: secret, ...env },
    auth: { adminSecret: ADMIN },
  });
  endpoints.push(e);
  const { url } = await e.listen(0, '127.0.0.1');
  const gql = async (query: string, headers: Record<string, string> = {}, variables?: Record<string, unknown>) => {
    const res = await fetch(`${url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN, ...headers }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as { data?: Record<string, any>; errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }> };
  };
  return { e, gql };
}

const asUser = { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' };

describe('remote schemas in the dev endpoint', () => {
  it('serves remote root fields beside tables, with the caller’s session forwarded', async () => {
    const { e, gql } = await endpoint();
    expect(e.unsupported).toEqual([]);
    const r = await gql('query Q($n: Int) { mediaStats { role userId items } media_item(order_by: {name: asc}, limit: $n) { name } }', asUser, { n: 5 });
    expect(r).toEqual({ data: { mediaStats: { role: 'user', userId: 'u1', items: 2 }, media_item: [{ name: 'a.png' }] } });
    const admin = await gql('{ stats: mediaStats { role items } }');
    expect(admin).toEqual({ data: { stats: { role: 'admin', items: 2 } } });
  });

  it('passes a remote’s errors on beside the data, and introspects the merged schema', async () => {
    const { gql } = await endpoint();
    const r = await gql('{ mediaForbidden mediaStats { items } }', asUser);
    expect(r.data).toEqual({ mediaForbidden: null, mediaStats: { items: 2 } });
    expect(r.errors).toEqual([{ message: 'not for you', path: ['mediaForbidden'], extensions: { hint: 'ask an admin', code: 'media/forbidden' } }]);
    const types = await gql('{ __type(name: "MediaStats") { fields { name } } }', asUser);
    expect(types.data!.__type.fields.map((f: { name: string }) => f.name)).toEqual(['bucket', 'role', 'userId', 'items']);
    const unknown = await gql('{ mediaNope }', asUser);
    expect(unknown.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
  });

  it('with remote schema permissions on, shows the fields only to roles with a permission', async () => {
    const { gql } = await endpoint({ HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS: 'true' });
    expect((await gql('{ mediaStats { items } }', asUser)).data).toEqual({ mediaStats: { items: 2 } });
    const guest = await gql('{ mediaStats { items } }', { 'x-hasura-role': 'guest' });
    expect(guest.errors![0]).toMatchObject({ extensions: { code: 'validation-failed' } });
    expect(guest.errors![0]!.message).toContain('mediaStats');
  });

  it('lists a remote schema it cannot introspect, as Hasura lists an inconsistent object', async () => {
    const { e, gql } = await endpoint({}, 'a-wrong-secret-0123456789');
    expect(e.unsupported).toEqual([expect.stringMatching(/^remote schema "media" \(introspection failed: HTTP 401/)]);
    expect((await gql('{ mediaStats { items } }')).errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    expect((await gql('{ media_item_aggregate { aggregate { count } } }')).data).toEqual({ media_item_aggregate: { aggregate: { count: 2 } } });
  });
});
