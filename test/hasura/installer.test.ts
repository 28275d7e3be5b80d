import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { install, remove, resolveSelection, STATE_FILE } from '../../src/hasura/installer.js';
import { openProject } from '../../src/hasura/project.js';
import { markedPlugins, ownedBy } from '../../src/hasura/merge.js';
import { catalog, fixtureCatalog, notesPlugin, tagsPlugin } from '../fixtures/plugins/catalog.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { copyFixture, diffTrees, hashTree, type TempProject } from './helpers.js';

let db: ScratchDatabase;
const temps: TempProject[] = [];
const fixture = (name: 'empty' | 'chat') => {
  const t = copyFixture(name);
  temps.push(t);
  return t;
};

beforeAll(async () => {
  db = await createScratchDatabase('installer');
});
afterAll(async () => {
  for (const t of temps) t.cleanup();
  await db.drop();
});

const read = (t: TempProject, rel: string) => readFileSync(join(t.dir, rel), 'utf8');

describe('install', () => {
  test('merges plugins into a realistic project and leaves every user object as it was', () => {
    const t = fixture('chat');
    const before = openProject(t.dir).metadata;
    const r = install({ projectDir: t.dir, catalog, plugins: ['tags', 'audit'], settings: { NOTES_API_KEY: 'k-123456789' } });
    // tags depends on notes: installed first.
    expect(r.changes.map((c) => `${c.plugin}:${c.status}`)).toEqual(['notes:added', 'tags:added', 'audit:added']);

    const after = openProject(t.dir).metadata;
    const userTables = after.sources[0]!.tables.filter((x) => x.table.schema === 'public');
    expect(userTables).toEqual(before.sources[0]!.tables);
    expect(after.actions!.filter((a) => !a.name.startsWith('notes') && !a.name.startsWith('tags'))).toEqual(before.actions);
    expect(after.cron_triggers![0]).toEqual(before.cron_triggers![0]);
    expect(after.custom_types!.objects!.find((o) => o.name === 'MessageHit')).toEqual(before.custom_types!.objects!.find((o) => o.name === 'MessageHit'));
    expect(after.query_collections).toEqual(before.query_collections);

    // The CLI layout: one file per table, listed by an include line; the comment of tables.yaml stays.
    const tablesYaml = read(t, 'metadata/databases/default/tables/tables.yaml');
    expect(tablesYaml.startsWith('# Chat app tables. Keep this list sorted.\n')).toBe(true);
    expect(tablesYaml).toContain('- "!include notes_notes.yaml"\n- "!include tags_tags.yaml"\n- "!include audit_entries.yaml"\n');
    expect(existsSync(join(t.dir, 'metadata/databases/default/tables/notes_notes.yaml'))).toBe(true);
    expect(read(t, 'metadata/actions.yaml')).toContain('    # Lets clients fetch the message behind each hit in one query.\n');

    // Objects carry the plugin's handler URL, secret header and marker.
    const notesCreate = after.actions!.find((a) => a.name === 'notesCreate')!;
    expect(notesCreate.definition).toMatchObject({
      handler: '{{NSELF_PLUGINS_URL}}/actions/notesCreate',
      type: 'mutation',
      kind: 'synchronous',
      output_type: 'NotesNote!',
      headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
    });
    expect(notesCreate.comment).toContain('nself-plugins:notes@1.2.0');
    const trig = after.sources[0]!.tables.find((x) => x.table.schema === 'notes')!.event_triggers![0]!;
    expect(trig.webhook).toBe('{{NSELF_PLUGINS_URL}}/events/notes_note_created');
    expect(trig.retry_conf.num_retries).toBeGreaterThan(0);
    expect(after.cron_triggers!.find((c) => c.name === 'notes_purge_deleted')).toMatchObject({
      webhook: '{{NSELF_PLUGINS_URL}}/cron/notes_purge_deleted',
      include_in_metadata: true,
      retry_conf: { num_retries: 3, retry_interval_seconds: 60, timeout_seconds: 60, tolerance_seconds: 21600 },
    });
    expect([...markedPlugins(after).keys()].sort()).toEqual(['notes', 'tags']);
  });

  test('copies migrations with versions after the project’s, dependencies first', () => {
    const t = fixture('chat');
    const r = install({ projectDir: t.dir, catalog, plugins: ['tags'], settings: {} });
    // The chat project's newest migration is 1850000000000; the fixture plugins' are 18000000001xx.
    expect(r.migrations).toEqual(['1850000000001_nself_plugins_init', '1850000000002_notes_init', '1850000000003_tags_init']);
    const dirs = readdirSync(join(t.dir, 'migrations/default')).sort();
    expect(dirs.slice(-3)).toEqual(r.migrations);
    const up = read(t, 'migrations/default/1850000000002_notes_init/up.sql');
    expect(up).toMatch(/^-- Installed by `nself-plugins install` \(nself-plugins:notes@1\.2\.0\)/);
    expect(up).toContain('create table if not exists notes.notes');
  });

  test('into an empty project: creates the database entry, keeps original versions', () => {
    const t = fixture('empty');
    const r = install({ projectDir: t.dir, catalog, plugins: ['audit'] });
    expect(r.migrations).toEqual(['1800000000000_nself_plugins_init', '1800000000300_audit_init']);
    expect(read(t, 'metadata/databases/databases.yaml')).toContain('from_env: HASURA_GRAPHQL_DATABASE_URL');
    expect(read(t, 'metadata/databases/default/tables/tables.yaml')).toBe('- "!include audit_entries.yaml"\n');
  });

  test('installing twice changes nothing', () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['notes', 'audit'], features: ['markdown'], settings: { NOTES_API_KEY: 'secret-value' } });
    const once = hashTree(t.root);
    const r = install({ projectDir: t.dir, catalog, plugins: ['audit', 'notes'] });
    expect(r.changes.every((c) => c.status === 'unchanged')).toBe(true);
    expect(r.files).toEqual([]);
    expect(diffTrees(once, hashTree(t.root))).toEqual([]);
  });

  test('settings: appended beside the project without touching existing keys', () => {
    const t = fixture('chat');
    writeFileSync(join(t.root, '.env'), 'CHAT_DATABASE_URL=postgres://chat@db/chat\nNOTES_MAX_LENGTH=50\n');
    const r = install({ projectDir: t.dir, catalog, plugins: ['notes'], features: ['notes:markdown'] });
    const env = readFileSync(join(t.root, '.env'), 'utf8');
    expect(env.startsWith('CHAT_DATABASE_URL=postgres://chat@db/chat\nNOTES_MAX_LENGTH=50\n\n# nself-plugins')).toBe(true);
    expect(env).toMatch(/\nNSELF_PLUGINS_WEBHOOK_SECRET=[0-9a-f]{48}\n/);
    expect(env).toContain('\nNOTES_API_KEY=\n');
    expect(env.match(/NOTES_MAX_LENGTH/g)).toHaveLength(1);
    expect(r.missing).toEqual(['NOTES_API_KEY']);
    const example = readFileSync(join(t.root, '.env.example'), 'utf8');
    expect(example).toContain('# NOTES_MAX_LENGTH=1000');
    expect(example).toContain('\nNSELF_PLUGINS_WEBHOOK_SECRET=\n');
    const state = JSON.parse(read(t, STATE_FILE));
    expect(state.plugins.notes.features).toEqual(['markdown']);
  });

  test('a user object with a plugin object’s name stops the install and changes nothing', () => {
    const t = fixture('chat');
    // The project already has an action named like one of the plugin's.
    const actions = read(t, 'metadata/actions.yaml').replace('name: inviteToChannel', 'name: notesCreate');
    writeFileSync(join(t.dir, 'metadata/actions.yaml'), actions);
    writeFileSync(
      join(t.dir, 'metadata/actions.graphql'),
      read(t, 'metadata/actions.graphql').replace('inviteToChannel(', 'notesCreate('),
    );
    const before = hashTree(t.root);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'] })).toThrow(
      /plugin notes: action notesCreate already exists, defined by the project \(metadata\/actions\.yaml/,
    );
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('a table the user tracks in a plugin’s schema is a conflict', () => {
    const t = fixture('chat');
    const file = join(t.dir, 'metadata/databases/default/tables/tables.yaml');
    writeFileSync(file, readFileSync(file, 'utf8') + '- "!include notes_notes.yaml"\n');
    writeFileSync(join(t.dir, 'metadata/databases/default/tables/notes_notes.yaml'), 'table:\n  name: notes\n  schema: notes\n');
    const before = hashTree(t.root);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'] })).toThrow(/table notes\.notes is already tracked by the project/);
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('a newer plugin version replaces exactly the objects that changed', () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['notes'] });
    const tableFile = read(t, 'metadata/databases/default/tables/notes_notes.yaml');
    const v2 = { ...notesPlugin, version: '1.3.0', crons: {} };
    const r = install({ projectDir: t.dir, catalog: fixtureCatalog([v2]), plugins: ['notes'] });
    expect(r.changes).toEqual([{ plugin: 'notes', status: 'updated', from: '1.2.0', to: '1.3.0' }]);
    const md = openProject(t.dir).metadata;
    expect(md.cron_triggers!.map((c) => c.name)).toEqual(['purge_deleted_messages']);
    expect(md.actions!.find((a) => a.name === 'notesCreate')!.comment).toContain('notes@1.3.0');
    // Tables carry no version: unchanged, untouched.
    expect(read(t, 'metadata/databases/default/tables/notes_notes.yaml')).toBe(tableFile);
    expect(r.migrations).toEqual([]);
  });

  test('unknown plugins and features are clear errors', () => {
    const t = fixture('chat');
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['nope'] })).toThrow('unknown plugin nope; known plugins: notes, tags, audit');
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'], features: ['turbo'] })).toThrow(/unknown feature turbo; available: notes:markdown, notes:spellcheck/);
  });

  test('dependency resolution orders dependencies first and names a missing one', () => {
    expect(resolveSelection(catalog, ['tags']).map((e) => e.manifest.name)).toEqual(['notes', 'tags']);
    expect(() => resolveSelection(fixtureCatalog([tagsPlugin]), ['tags'])).toThrow('plugin tags depends on plugin notes, which does not exist');
  });
});

describe('remove', () => {
  test('install → remove returns the project byte-for-byte (migrations never applied)', async () => {
    for (const name of ['chat', 'empty'] as const) {
      const t = fixture(name);
      writeFileSync(join(t.root, '.env'), 'EXISTING=1\n');
      const before = hashTree(t.root);
      install({ projectDir: t.dir, catalog, plugins: ['tags', 'audit'], settings: { NOTES_API_KEY: 'abcdefgh' } });
      expect(diffTrees(before, hashTree(t.root)).length).toBeGreaterThan(5);
      const r = await remove({ projectDir: t.dir, catalog, plugins: ['notes', 'tags', 'audit'], databaseUrl: db.url });
      expect(r.uninstallMigrations).toEqual([]);
      expect(r.deletedMigrations).toHaveLength(4);
      expect(diffTrees(before, hashTree(t.root))).toEqual([]);
    }
  });

  test('removing one plugin of several takes out exactly its objects', async () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['notes'] });
    const withNotes = hashTree(t.root);
    install({ projectDir: t.dir, catalog, plugins: ['audit'] });
    await remove({ projectDir: t.dir, catalog, plugins: ['audit'], databaseUrl: db.url });
    expect(diffTrees(withNotes, hashTree(t.root))).toEqual([]);
  });

  test('refuses while another installed plugin depends on it', async () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['tags'] });
    const before = hashTree(t.root);
    await expect(remove({ projectDir: t.dir, catalog, plugins: ['notes'] })).rejects.toThrow('plugin tags depends on notes; remove tags first');
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('applied migrations stay and an uninstall migration reverts them', async () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['notes', 'audit'] });
    const state = JSON.parse(read(t, STATE_FILE));
    const notesFolder: string = state.plugins.notes.migrations[0];
    // Record the notes migration as applied, the way the Hasura CLI does (hdb_version.cli_state).
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query('create schema if not exists hdb_catalog');
      await c.query('create table if not exists hdb_catalog.hdb_version (hasura_uuid uuid, version text, cli_state jsonb, console_state jsonb)');
      await c.query('delete from hdb_catalog.hdb_version');
      await c.query(`insert into hdb_catalog.hdb_version values (gen_random_uuid(), '48', $1, '{}')`, [
        JSON.stringify({ migrations: { default: { [notesFolder.split('_')[0]!]: false } }, settings: { migration_mode: 'true' }, isStateCopyCompleted: true }),
      ]);
      const r = await remove({ projectDir: t.dir, catalog, plugins: ['notes'], databaseUrl: db.url });
      expect(r.deletedMigrations).toEqual([]);
      expect(r.uninstallMigrations).toHaveLength(1);
      const uninstall = r.uninstallMigrations[0]!;
      expect(uninstall).toMatch(/^\d+_notes_uninstall$/);
      expect(BigInt(uninstall.split('_')[0]!)).toBeGreaterThan(BigInt(state.plugins.audit.migrations[0].split('_')[0]));
      expect(read(t, `migrations/default/${uninstall}/up.sql`)).toContain('drop schema if exists notes cascade;');
      expect(read(t, `migrations/default/${uninstall}/down.sql`)).toContain('create table if not exists notes.notes');
      expect(existsSync(join(t.dir, 'migrations/default', notesFolder, 'up.sql'))).toBe(true);
      // The metadata objects go either way.
      expect(ownedBy(openProject(t.dir).metadata, 'notes', 'default', true).tables).toEqual([]);
    } finally {
      await c.query('drop schema hdb_catalog cascade');
      await c.end();
    }
  });

  test('without --database-url, migrations are assumed applied', async () => {
    const t = fixture('empty');
    install({ projectDir: t.dir, catalog, plugins: ['audit'] });
    const r = await remove({ projectDir: t.dir, catalog, plugins: ['audit'] });
    expect(r.uninstallMigrations.map((m) => m.replace(/^\d+_/, ''))).toEqual(['audit_uninstall', 'nself_plugins_uninstall']);
    expect(r.notes.join('\n')).toContain('no --database-url');
    expect(existsSync(join(t.dir, STATE_FILE))).toBe(false);
  });

  test('a plugin schema present in the database counts as applied', async () => {
    const t = fixture('empty');
    install({ projectDir: t.dir, catalog, plugins: ['audit'] });
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query('create schema audit');
      const r = await remove({ projectDir: t.dir, catalog, plugins: ['audit'], databaseUrl: db.url });
      expect(r.uninstallMigrations.map((m) => m.replace(/^\d+_/, ''))).toEqual(['audit_uninstall']);
      expect(r.deletedMigrations.map((m) => m.replace(/^\d+_/, ''))).toEqual(['nself_plugins_init']);
    } finally {
      await c.query('drop schema if exists audit cascade');
      await c.end();
    }
  });

  test('a user relationship into a plugin table blocks removal', async () => {
    const t = fixture('chat');
    install({ projectDir: t.dir, catalog, plugins: ['notes'] });
    const users = join(t.dir, 'metadata/databases/default/tables/public_users.yaml');
    writeFileSync(
      users,
      readFileSync(users, 'utf8').replace(
        'array_relationships:\n',
        'array_relationships:\n  - name: notes\n    using:\n      manual_configuration:\n        column_mapping:\n          id: owner_id\n        remote_table:\n          name: notes\n          schema: notes\n',
      ),
    );
    const before = hashTree(t.root);
    await expect(remove({ projectDir: t.dir, catalog, plugins: ['notes'], databaseUrl: db.url })).rejects.toThrow(
      "table public.users refers to plugin notes's tables",
    );
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('removing a plugin that is not installed is an error', async () => {
    const t = fixture('chat');
    await expect(remove({ projectDir: t.dir, catalog, plugins: ['notes'] })).rejects.toThrow('notes is not installed (installed: none)');
    await expect(remove({ projectDir: t.dir, catalog, plugins: ['ghost'] })).rejects.toThrow('ghost is not a known plugin');
  });
});
