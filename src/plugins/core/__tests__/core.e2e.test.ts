/**
 * The core plugin end to end: the real server on a real port, the composed hasura/metadata loaded into the
 * harness, real table writes firing real Postgres triggers, actions invoked from GraphQL documents.
 */
import { join } from 'node:path';
import pg from 'pg';
import { createRuntime, type ServerRuntime } from '../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../core/server.js';
import { hasuraDir } from '../../../core/paths.js';
import { createHasuraHarness, type HasuraHarness } from '../../../testing/index.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../../../../test/support/db.js';
import { SUITE_VERSION } from '../lib/version.js';
import { ALL_PLUGINS } from '../../index.js';

const SECRET = 'core-e2e-secret-0123456789abcdef';
const alice = { role: 'user', userId: 'alice' };
const bob = { role: 'user', userId: 'bob' };

/** `extensions.code` of the first GraphQL error. */
const errorCode = (res: { errors?: Array<{ extensions?: unknown }> }) =>
  (res.errors?.[0]?.extensions as { code?: string } | undefined)?.code;

let db: ScratchDatabase;
let runtime: ServerRuntime;
let server: NselfServer;
let harness: HasuraHarness;
let pool: pg.Pool;
let baseUrl: string;

beforeAll(async () => {
  db = await createScratchDatabase('core_e2e');
  runtime = await createRuntime({
    DATABASE_URL: db.url,
    // Every plugin, as `npm start` runs them; a Redis database of its own (the jobs tests use 8–15).
    REDIS_URL: `${REDIS_URL}/7`,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
  });
  server = createServer(runtime);
  const { url } = await server.listen(0, '127.0.0.1');
  baseUrl = url;
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => undefined); // the scratch database is dropped WITH (FORCE) at the end
  harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 50 },
  });
});

afterAll(async () => {
  await harness?.close();
  await pool?.end();
  await server?.shutdown('test done');
  await db?.drop();
});

describe('coreVersion', () => {
  it('reports the version, enabled plugins and engines to a user', async () => {
    const res = await harness.graphql('query { coreVersion { version plugins { name version } engines { database queue } } }', {}, alice);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({
      coreVersion: {
        version: SUITE_VERSION,
        plugins: ALL_PLUGINS.map((p) => ({ name: p.name, version: p.version })),
        engines: { database: 'postgresql', queue: 'bullmq-redis' },
      },
    });
  });

  it('does not exist for a role without permission', async () => {
    const res = await harness.graphql('query { coreVersion { version } }', {}, { role: 'anonymous' });
    expect(res.data ?? null).toBeNull();
    expect(errorCode(res)).toBe('validation-failed');
  });
});

describe('coreSelfTest', () => {
  it('records a run that the event trigger marks delivered, visible only to its owner', async () => {
    const res = await harness.graphql<{ coreSelfTest: { id: string; createdAt: string } }>(
      'mutation ($note: String) { coreSelfTest(note: $note) { id createdAt } }',
      { note: 'after deploy' },
      alice,
    );
    expect(res.errors).toBeUndefined();
    const id = res.data!.coreSelfTest.id;
    expect(Date.parse(res.data!.coreSelfTest.createdAt)).not.toBeNaN();

    await harness.drain({ timeoutMs: 10_000 });
    const own = await harness.select('user', alice, { schema: 'core', name: 'selftest_runs' }, { id: { _eq: id } });
    expect(own).toHaveLength(1);
    expect(own[0]!.note).toBe('after deploy');
    expect(own[0]!.delivered_at).not.toBeNull();
    expect(own[0]).not.toHaveProperty('requested_by');
    const others = await harness.select('user', bob, { schema: 'core', name: 'selftest_runs' }, { id: { _eq: id } });
    expect(others).toHaveLength(0);
  });

  it('applies the event once when Hasura redelivers it', async () => {
    const res = await harness.graphql<{ coreSelfTest: { id: string } }>('mutation { coreSelfTest { id } }', {}, alice);
    const id = res.data!.coreSelfTest.id;
    await harness.drain({ timeoutMs: 10_000 });
    const [event] = (await harness.eventLog('core_selftest_run_inserted')).filter(
      (e) => (e.payload as { data: { new: { id: string } } }).data.new.id === id,
    );
    expect(event?.delivered).toBe(true);
    const before = await pool.query(
      'select delivered_at, delivered_event_id from core.selftest_runs where id = $1',
      [id],
    );
    await harness.redeliverEvent(event!.id);
    await harness.drain({ timeoutMs: 10_000 });
    const after = await pool.query('select delivered_at, delivered_event_id from core.selftest_runs where id = $1', [id]);
    expect(after.rows).toEqual(before.rows);
    const receipts = await pool.query('select count(*)::int as n from nself_plugins.event_receipt where key = $1', [event!.id]);
    expect(receipts.rows[0].n).toBe(1);
    expect(await harness.invocations(event!.id)).toHaveLength(2);
  });

  it.each([
    ['a note over 500 characters', { note: 'x'.repeat(501) }, 'core/note-too-long'],
  ])('rejects %s with a 4xx code and writes nothing', async (_what, variables, code) => {
    const before = await pool.query('select count(*)::int as n from core.selftest_runs');
    const res = await harness.graphql('mutation ($note: String) { coreSelfTest(note: $note) { id } }', variables, alice);
    expect(errorCode(res)).toBe(code);
    const after = await pool.query('select count(*)::int as n from core.selftest_runs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('rejects a wrong argument type before the handler runs', async () => {
    const res = await harness.graphql('mutation { coreSelfTest(note: 42) { id } }', {}, alice);
    expect(errorCode(res)).toBe('validation-failed');
  });

  it('rejects a user session without a user id', async () => {
    const res = await harness.graphql('mutation { coreSelfTest { id } }', {}, { role: 'user' });
    expect(errorCode(res)).toBe('core/no-user');
  });

  it('rejects a direct call without the shared secret', async () => {
    const res = await fetch(`${baseUrl}/actions/coreSelfTest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: { name: 'coreSelfTest' }, input: {}, session_variables: { 'x-hasura-role': 'admin' } }),
    });
    expect(res.status).toBe(401);
  });
});

describe('core_housekeeping', () => {
  it('prunes old receipts and runs, and only delivered Hasura events of our triggers', async () => {
    await pool.query(`insert into core.selftest_runs (requested_by, created_at) values ('old', now() - interval '30 days')`);
    await pool.query(
      `insert into nself_plugins.event_receipt (key, handler, kind, status, created_at)
       values ('old-receipt', 'x', 'event', 'done', now() - interval '60 days')`,
    );
    await pool.query(
      `insert into hdb_catalog.event_log (schema_name, table_name, trigger_name, payload, delivered, error, created_at)
       values ('core', 'selftest_runs', 'core_selftest_run_inserted', '{}', true, false, localtimestamp - interval '30 days'),
              ('core', 'selftest_runs', 'core_selftest_run_inserted', '{}', false, true, localtimestamp - interval '30 days'),
              ('public', 'users', 'user_owned_trigger', '{}', true, false, localtimestamp - interval '30 days')`,
    );

    const fired = await harness.fireCron('core_housekeeping');
    expect(fired.status).toBe('delivered');

    const runs = await pool.query(`select count(*)::int as n from core.selftest_runs where requested_by = 'old'`);
    expect(runs.rows[0].n).toBe(0);
    const receipts = await pool.query(`select count(*)::int as n from nself_plugins.event_receipt where key = 'old-receipt'`);
    expect(receipts.rows[0].n).toBe(0);
    const left = await pool.query(
      `select trigger_name, delivered, error from hdb_catalog.event_log
        where created_at < localtimestamp - interval '20 days' order by trigger_name, error`,
    );
    expect(left.rows).toEqual([
      { trigger_name: 'core_selftest_run_inserted', delivered: false, error: true },
      { trigger_name: 'user_owned_trigger', delivered: true, error: false },
    ]);
    // Recent runs stay.
    const recent = await pool.query(`select count(*)::int as n from core.selftest_runs where created_at > now() - interval '1 day'`);
    expect(recent.rows[0].n).toBeGreaterThan(0);
  });
});
