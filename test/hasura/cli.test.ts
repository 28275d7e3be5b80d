/** The installer commands end to end through `runCli`, against the fixture catalogue. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, copyFixture, diffTrees, hashTree } from './helpers.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

let db: ScratchDatabase;
beforeAll(async () => {
  db = await createScratchDatabase('installer_cli');
});
afterAll(() => db.drop());

describe('nself-plugins list | info | docs', () => {
  test('list', async () => {
    const r = await cli(['list']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'notes@1.2.0  Notes with full-text search (fixture).',
      'tags@0.3.0   Tags on notes (fixture). (needs notes)',
      'audit@2.0.0  Audit entries (fixture; tables only).',
    ]);
    expect(JSON.parse((await cli(['list', '--json'])).out)[1]).toEqual({ name: 'tags', version: '0.3.0', dependsOn: ['notes'], description: 'Tags on notes (fixture).' });
  });

  test('info', async () => {
    const r = await cli(['info', 'notes']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('mutation notesCreate(body: String!, tags: [String!]): NotesNote!  [roles: user]');
    expect(r.out).toContain('notes_note_created on notes.notes');
    expect(r.out).toContain('notes_purge_deleted  0 4 * * * (UTC)');
    expect(r.out).toContain('NOTES_API_KEY (required) [secret] — Key of the search service.');
    expect(r.out).toContain('spellcheck [on; default on] — Spell-check notes');
    expect(r.out).toContain('features (NOTES_FEATURES; on: spellcheck, default):');
    expect(JSON.parse((await cli(['info', 'audit', '--json'])).out).tables[0].table).toEqual({ schema: 'audit', name: 'entries' });
  });

  test('docs', async () => {
    expect((await cli(['docs', 'notes'])).out).toBe('# notes (fixture)\n\nA test plugin.');
    const r = await cli(['docs', 'tags']);
    expect([r.code, r.err]).toEqual([1, 'error: plugin tags has no README']);
  });

  test('the suite’s own catalogue is the default', async () => {
    const r = await cli(['list'], { env: {} });
    expect(r.out).toMatch(/^core@/m);
  });
});

describe('nself-plugins install | remove', () => {
  test('install, install again, dry-run remove, remove', async () => {
    const t = copyFixture('chat');
    try {
      const before = hashTree(t.root);
      let r = await cli(['install', 'tags', '--project', 'hasura', '--yes', '--features', 'markdown'], { cwd: t.root });
      expect(r.code).toBe(0);
      expect(r.out).toContain('installed notes@1.2.0\ninstalled tags@0.3.0\nmigrations: 1850000000001_nself_plugins_init, 1850000000002_notes_init, 1850000000003_tags_init');
      expect(r.out).toContain('.env: added NSELF_PLUGINS_URL, NSELF_PLUGINS_WEBHOOK_SECRET');
      expect(r.out).toContain('next: hasura migrate apply --project hasura && hasura metadata apply --project hasura');
      expect(r.err).toBe('set these required settings in .env before starting: NOTES_API_KEY');
      expect(JSON.parse(readFileSync(join(t.dir, 'nself-plugins.json'), 'utf8')).plugins.notes.features).toEqual(['markdown']);

      const installed = hashTree(t.root);
      r = await cli(['install', 'tags', '--project', 'hasura', '--yes'], { cwd: t.root });
      expect(r.out).toBe('notes@1.2.0 is already installed; nothing to do\ntags@0.3.0 is already installed; nothing to do');
      expect(diffTrees(installed, hashTree(t.root))).toEqual([]);

      r = await cli(['remove', 'notes', 'tags', '--project', 'hasura', '--dry-run', '--database-url', db.url], { cwd: t.root });
      expect(r.code).toBe(0);
      expect(r.out).toContain('would change: ../.env, ../.env.example, metadata/actions.graphql');
      expect(diffTrees(installed, hashTree(t.root))).toEqual([]);

      r = await cli(['remove', 'tags', 'notes', '--project', 'hasura', '--database-url', db.url], { cwd: t.root });
      expect(r.code).toBe(0);
      expect(r.out).toContain('removed tags@0.3.0\nremoved notes@1.2.0\ndeleted unapplied migrations: 1850000000003_tags_init, 1850000000002_notes_init, 1850000000001_nself_plugins_init');
      expect(diffTrees(before, hashTree(t.root))).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  test('--no-env leaves .env files alone; --env-dir puts them elsewhere', async () => {
    const t = copyFixture('empty');
    try {
      await cli(['install', 'audit', '--project', t.dir, '--yes', '--no-env']);
      expect(hashTree(t.root).has('.env')).toBe(false);
      await cli(['install', 'notes', '--project', t.dir, '--yes', '--env-dir', join(t.dir, 'env')]);
      expect(readFileSync(join(t.dir, 'env/.env.example'), 'utf8')).toContain('NOTES_API_KEY=');
    } finally {
      t.cleanup();
    }
  });
});
