/**
 * Install options and project triggers, with the `finder` fixture plugin on the chat fixture project: options
 * are stored as the plugin's settings, its triggers land on the user's own tables (tracking a table that is not
 * tracked yet), reinstalling with other options is exact, remove restores the project byte for byte, `apply`
 * goes through the Metadata API's fine-grained trigger calls, and the harness delivers a write on the user's
 * table to the plugin's one handler.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { install, remove, STATE_FILE, InstallError } from '../../src/hasura/installer.js';
import { openProject } from '../../src/hasura/project.js';
import { splitOptionTokens } from '../../src/hasura/project-triggers.js';
import type { HasuraMetadata } from '../../src/hasura/types.js';
import { createRuntime } from '../../src/core/runtime.js';
import { createServer } from '../../src/core/server.js';
import { createHasuraHarness } from '../../src/testing/index.js';
import { catalog, finderPlugin } from '../fixtures/plugins/finder.js';
import { FakeHasuraMetadata } from './fake-hasura-metadata.js';
import { cli, copyFixture, diffTrees, fixturesDir, hashTree, type TempProject } from './helpers.js';
import { createScratchDatabase, REDIS_URL } from '../support/db.js';

const catalogModule = join(fixturesDir, 'plugins', 'finder.ts');
const env = { NSELF_PLUGINS_CATALOG: catalogModule };
const temps: TempProject[] = [];
const fixture = () => {
  const t = copyFixture('chat');
  temps.push(t);
  return t;
};
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const t of temps) t.cleanup();
});

const TABLES = 'metadata/databases/default/tables';
const read = (t: TempProject, rel: string) => readFileSync(join(t.dir, rel), 'utf8');
const triggersOn = (md: HasuraMetadata, table: string) =>
  (md.sources[0]!.tables.find((x) => `${x.table.schema}.${x.table.name}` === table)?.event_triggers ?? []).map((e) => e.name).sort();
const opt = (name: string, value: string) => ({ name, value });

describe('install options', () => {
  test('are split from the operands, in both spellings', () => {
    expect(splitOptionTokens(['finder', '--engine', 'meilisearch', '--index=a,b', 'other'])).toEqual({
      operands: ['finder', 'other'],
      options: [opt('engine', 'meilisearch'), opt('index', 'a,b')],
    });
    expect(() => splitOptionTokens(['finder', '--index'])).toThrow('option --index needs a value');
  });

  test('unknown options and invalid values are clear CLI errors that change nothing', async () => {
    const t = fixture();
    const before = hashTree(t.root);
    const unknown = await cli(['install', 'finder', '--engin', 'meilisearch', '--project', t.dir, '-y'], { env });
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('unknown option --engin; the plugins being installed declare: --engine (finder), --index (finder)');
    const bad = await cli(['install', 'finder', '--engine', 'elastic', '--project', t.dir, '-y'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('--engine "elastic"');
    const badList = await cli(['install', 'finder', '--index', 'messages,Robert); drop', '--project', t.dir, '-y'], { env });
    expect(badList.code).not.toBe(0);
    expect(badList.err).toContain('table names must be lower snake_case');
    const twice = await cli(['install', 'finder', '--index', 'a', '--index', 'b', '--project', t.dir, '-y'], { env });
    expect(twice.err).toContain('option --index is given twice');
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });
});

describe('project triggers through the files', () => {
  test('install puts them on the user tables, reinstall is exact, remove restores the project byte for byte', async () => {
    const t = fixture();
    const before = hashTree(t.root);
    const messagesBefore = read(t, `${TABLES}/public_messages.yaml`);
    const listBefore = read(t, `${TABLES}/tables.yaml`);

    const r = await cli(['install', 'finder', '--engine', 'meilisearch', '--index', 'messages, users,attachments,users', '--project', t.dir, '-y'], { env });
    expect(r.code).toBe(0);
    expect(r.out).toContain('event trigger finder_sync_messages on public.messages');
    expect(r.out).toContain('tracked public.attachments for event trigger finder_sync_attachments');
    let md = openProject(t.dir).metadata;
    // The user's own trigger stays; ours is added beside it, rendered like a plugin's own trigger.
    expect(triggersOn(md, 'public.messages')).toEqual(['finder_sync_messages', 'message_created_notify']);
    expect(triggersOn(md, 'public.users')).toEqual(['finder_sync_users']);
    expect(triggersOn(md, 'public.attachments')).toEqual(['finder_sync_attachments']);
    const trig = md.sources[0]!.tables.find((x) => x.table.name === 'messages')!.event_triggers!.find((e) => e.name === 'finder_sync_messages')!;
    expect(trig).toEqual({
      name: 'finder_sync_messages',
      definition: { enable_manual: false, insert: { columns: '*' }, update: { columns: '*' }, delete: { columns: '*' } },
      retry_conf: { num_retries: 3, interval_sec: 30, timeout_sec: 60 },
      webhook: '{{NSELF_PLUGINS_URL}}/events/finder/sync_row',
      headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
    });
    expect(read(t, `${TABLES}/public_messages.yaml`).startsWith(messagesBefore.trimEnd())).toBe(true);
    expect(read(t, `${TABLES}/tables.yaml`)).toBe(listBefore + '- "!include finder_received.yaml"\n- "!include public_attachments.yaml"\n');
    // Options are stored as the settings they name, like <PLUGIN>_FEATURES.
    const dotenv = readFileSync(join(t.root, '.env'), 'utf8');
    expect(dotenv).toContain('\nFINDER_ENGINE=meilisearch\n');
    expect(dotenv).toContain('\nFINDER_TABLES=messages,users,attachments\n');
    const state = JSON.parse(read(t, STATE_FILE)) as { plugins: { finder: { options: unknown; projectTriggers: unknown[] } } };
    expect(state.plugins.finder.options).toEqual({ engine: 'meilisearch', index: 'messages,users,attachments' });
    expect(state.plugins.finder.projectTriggers).toEqual([
      { source: 'default', table: { schema: 'public', name: 'messages' }, name: 'finder_sync_messages' },
      { source: 'default', table: { schema: 'public', name: 'users' }, name: 'finder_sync_users' },
      { source: 'default', table: { schema: 'public', name: 'attachments' }, name: 'finder_sync_attachments', createdTable: true },
    ]);
    const info = await cli(['info', 'finder', '--project', t.dir], { env });
    expect(info.out).toContain('--engine <value> → FINDER_ENGINE = meilisearch');
    expect(info.out).toContain('--index <a,b,…> → FINDER_TABLES = messages,users,attachments');
    expect(info.out).toContain('finder_sync_attachments on public.attachments (database default; tracked for it)');

    // Installing again with the same options changes nothing.
    const same = hashTree(t.root);
    install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('engine', 'meilisearch')] });
    expect(diffTrees(same, hashTree(t.root))).toEqual([]);

    // Other options: exactly the new triggers; the engine option given before is kept.
    install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('index', 'users,channels')] });
    md = openProject(t.dir).metadata;
    expect(triggersOn(md, 'public.messages')).toEqual(['message_created_notify']);
    expect(read(t, `${TABLES}/public_messages.yaml`)).toBe(messagesBefore);
    expect(md.sources[0]!.tables.some((x) => x.table.name === 'attachments')).toBe(false);
    expect(read(t, `${TABLES}/tables.yaml`)).toBe(listBefore + '- "!include finder_received.yaml"\n');
    expect(triggersOn(md, 'public.users')).toEqual(['finder_sync_users']);
    expect(triggersOn(md, 'public.channels')).toEqual(['finder_sync_channels']);
    const dotenv2 = readFileSync(join(t.root, '.env'), 'utf8');
    expect(dotenv2).toContain('\nFINDER_ENGINE=meilisearch\n');
    expect(dotenv2).toContain('\nFINDER_TABLES=users,channels\n');

    // A changed trigger (the engine decides the update columns) is replaced in place.
    install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('engine', 'postgres')] });
    md = openProject(t.dir).metadata;
    const users = md.sources[0]!.tables.find((x) => x.table.name === 'users')!.event_triggers!;
    expect(users.map((e) => [e.name, e.definition.update])).toEqual([['finder_sync_users', { columns: ['id'] }]]);

    await remove({ projectDir: t.dir, catalog, plugins: ['finder'] });
    const after = hashTree(t.root);
    // Only the uninstall migrations stay (nothing said whether the plugin's migrations were applied).
    expect(diffTrees(before, after).filter((p) => !p.includes('/migrations/'))).toEqual([]);
  });

  test('a trigger name the project already uses is a conflict, and nothing is written', () => {
    const t = fixture();
    const file = join(t.dir, TABLES, 'public_users.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8') +
        "event_triggers:\n  - name: finder_sync_users\n    definition:\n      enable_manual: false\n      insert:\n        columns: '*'\n    retry_conf:\n      interval_sec: 10\n      num_retries: 0\n      timeout_sec: 60\n    webhook: https://example.com/hook\n",
    );
    const before = hashTree(t.root);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('index', 'messages,users')] })).toThrow(InstallError);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('index', 'messages,users')] })).toThrow(
      'event trigger finder_sync_users already exists on table public.users',
    );
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });
});

describe('project triggers through the Metadata API', () => {
  test('apply creates, replaces and deletes exactly the plugin’s triggers with pg_*_event_trigger', async () => {
    const t = fixture();
    const chat = openProject(t.dir).metadata;
    const fake = await new FakeHasuraMetadata({
      adminSecret: 'admin',
      tables: ['public.users', 'public.channels', 'public.channel_members', 'public.messages', 'public.reactions', 'public.attachments', 'finder.received'],
      metadata: JSON.parse(JSON.stringify({ ...chat, version: 3 })) as Record<string, unknown>,
    }).start();
    cleanups.push(() => fake.stop());
    const apply = (tables: string, engine = 'meilisearch') =>
      cli(['apply', '--endpoint', fake.url, '--admin-secret', 'admin', '--plugins', 'finder'], { env: { ...env, FINDER_TABLES: tables, FINDER_ENGINE: engine } });
    const live = () => fake.metadata as unknown as HasuraMetadata;
    const calls = () => fake.calls.map((c) => c.type).filter((x) => x.startsWith('pg_'));

    const first = await apply('messages,attachments');
    expect([first.code, first.err]).toEqual([0, '']);
    expect(first.out).toContain('finder project triggers: created finder_sync_messages, finder_sync_attachments; tracked default/public.attachments');
    expect(calls()).toEqual(['pg_create_event_trigger', 'pg_track_table', 'pg_create_event_trigger']);
    expect(triggersOn(live(), 'public.messages')).toEqual(['finder_sync_messages', 'message_created_notify']);
    expect(triggersOn(live(), 'public.attachments')).toEqual(['finder_sync_attachments']);

    fake.calls.length = 0;
    expect((await apply('messages,attachments')).out).toContain('finder project triggers: unchanged');
    expect(calls()).toEqual([]);

    fake.calls.length = 0;
    const second = await apply('messages,users', 'postgres');
    expect(second.code).toBe(0);
    expect(calls()).toEqual(['pg_delete_event_trigger', 'pg_create_event_trigger', 'pg_create_event_trigger']);
    const replaced = fake.calls.filter((c) => c.type === 'pg_create_event_trigger').map((c) => (c.body.args as Record<string, unknown>));
    expect(replaced.map((a) => [a.name, a.replace, a.update])).toEqual([
      ['finder_sync_messages', true, { columns: ['id'] }],
      ['finder_sync_users', false, { columns: ['id'] }],
    ]);
    expect(triggersOn(live(), 'public.attachments')).toEqual([]);
    expect(triggersOn(live(), 'public.messages')).toEqual(['finder_sync_messages', 'message_created_notify']);
    expect(triggersOn(live(), 'public.users')).toEqual(['finder_sync_users']);

    fake.calls.length = 0;
    expect((await apply('')).code).toBe(0);
    expect(calls()).toEqual(['pg_delete_event_trigger', 'pg_delete_event_trigger']);
    expect(triggersOn(live(), 'public.messages')).toEqual(['message_created_notify']);
  });

  test('the fake rejects what Hasura rejects', async () => {
    const fake = await new FakeHasuraMetadata({ adminSecret: 'a', tables: ['public.t'], metadata: { version: 3, sources: [{ name: 'default', kind: 'postgres', configuration: {}, tables: [] }] } }).start();
    cleanups.push(() => fake.stop());
    const call = async (type: string, args: unknown) => {
      const res = await fetch(`${fake.url}/v1/metadata`, { method: 'POST', headers: { 'x-hasura-admin-secret': 'a' }, body: JSON.stringify({ type, args }) });
      return { status: res.status, body: (await res.json()) as { code?: string; error?: string } };
    };
    const base = { name: 'x_t', table: { schema: 'public', name: 't' }, webhook: 'http://h', insert: { columns: '*' } };
    expect((await call('pg_create_event_trigger', base)).body.code).toBe('not-exists');
    expect((await call('pg_track_table', { table: { schema: 'public', name: 'nope' } })).body.code).toBe('invalid-configuration');
    expect((await call('pg_track_table', { table: { schema: 'public', name: 't' } })).status).toBe(200);
    expect((await call('pg_track_table', { table: { schema: 'public', name: 't' } })).body.code).toBe('already-tracked');
    expect((await call('pg_create_event_trigger', { ...base, insert: undefined })).body.error).toContain('atleast one');
    expect((await call('pg_create_event_trigger', { ...base, webhook_from_env: 'X' })).body.error).toContain('exactly one of webhook');
    expect((await call('pg_create_event_trigger', { ...base, name: '9bad' })).body.code).toBe('parse-failed');
    expect((await call('pg_create_event_trigger', { ...base, colour: 'red' })).body.code).toBe('parse-failed');
    expect((await call('pg_create_event_trigger', { ...base, replace: true })).body.code).toBe('not-exists');
    expect((await call('pg_create_event_trigger', base)).status).toBe(200);
    expect((await call('pg_create_event_trigger', base)).body.code).toBe('already-exists');
    expect((await call('pg_create_event_trigger', { ...base, replace: true })).status).toBe(200);
    expect((await call('pg_delete_event_trigger', { name: 'x_t' })).status).toBe(200);
    expect((await call('pg_delete_event_trigger', { name: 'x_t' })).body.code).toBe('not-exists');
  });
});

describe('delivery', () => {
  test('a write on the user’s table reaches the plugin’s handler at /events/finder/sync_row, once', async () => {
    const t = fixture();
    install({ projectDir: t.dir, catalog, plugins: ['finder'], options: [opt('index', 'channels,users'), opt('engine', 'meilisearch')], envDir: null });
    const db = await createScratchDatabase('project_triggers');
    cleanups.push(() => db.drop());
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined); // the scratch database is dropped WITH (FORCE)
    cleanups.push(() => pool.end());
    await pool.query(readFileSync(join(t.dir, 'migrations/default/1700000000000_init/up.sql'), 'utf8'));
    await pool.query(readFileSync(join(fixturesDir, 'plugins/migrations/1800000000500_finder_init/up.sql'), 'utf8'));
    const SECRET = 'project-trigger-secret-0123456789';
    const runtime = await createRuntime(
      { DATABASE_URL: db.url, REDIS_URL: `${REDIS_URL}/5`, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent', FINDER_TABLES: 'channels,users', FINDER_ENGINE: 'meilisearch' },
      { plugins: [finderPlugin], actionsSdl: () => undefined, defaultMetrics: false },
    );
    const server = createServer(runtime);
    const { url } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.shutdown('test'));
    // The chat app's own trigger and cron call its own functions (never reached here: no message is written).
    const harness = await createHasuraHarness({
      databaseUrl: db.url,
      metadataDir: join(t.dir, 'metadata'),
      env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, CHAT_FUNCTIONS_URL: 'http://127.0.0.1:9', CHAT_EVENT_SECRET: 'x', CHAT_DATABASE_URL: db.url },
      events: { fetchIntervalMs: 50 },
    });
    cleanups.push(() => harness.close());

    const user = await harness.pool.query<{ id: string }>("insert into public.users (display_name) values ('Ada') returning id");
    const channel = await harness.pool.query<{ id: string }>("insert into public.channels (name) values ('general') returning id");
    await harness.pool.query("update public.channels set topic = 'news'");
    // With the postgres engine only an id change would fire the update trigger; meilisearch wants every column.
    await harness.pool.query('delete from public.channels');
    await harness.drain();
    const received = await pool.query('select trigger_name, table_name, op, row_id from finder.received order by trigger_name, op');
    expect(received.rows).toEqual([
      { trigger_name: 'finder_sync_channels', table_name: 'public.channels', op: 'DELETE', row_id: channel.rows[0]!.id },
      { trigger_name: 'finder_sync_channels', table_name: 'public.channels', op: 'INSERT', row_id: channel.rows[0]!.id },
      { trigger_name: 'finder_sync_channels', table_name: 'public.channels', op: 'UPDATE', row_id: channel.rows[0]!.id },
      { trigger_name: 'finder_sync_users', table_name: 'public.users', op: 'INSERT', row_id: user.rows[0]!.id },
    ]);
    const log = await harness.eventLog();
    expect(log.every((e) => e.delivered && !e.error)).toBe(true);

    // A redelivery has no second effect; a trigger of another plugin at this route is refused.
    await harness.redeliverEvent(log[0]!.id);
    await harness.drain();
    expect((await pool.query('select count(*)::int as n from finder.received')).rows[0]).toEqual({ n: 4 });
    const forged = await fetch(`${url}/events/finder/sync_row`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET },
      body: JSON.stringify({ ...log[0]!.payload, id: 'forged-1', trigger: { name: 'other_sync_users' } }),
    });
    expect(forged.status).toBe(400);
    const unknown = await fetch(`${url}/events/finder/nothing`, { method: 'POST', headers: { 'x-nself-plugins-secret': SECRET }, body: '{}' });
    expect(unknown.status).toBe(404);
  });
});
