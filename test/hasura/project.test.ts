import { join } from 'node:path';
import { FileSet } from '../../src/hasura/files.js';
import { install } from '../../src/hasura/installer.js';
import { emptyProjectFiles, openProject, readProject } from '../../src/hasura/project.js';
import { catalog } from '../fixtures/plugins/catalog.js';
import { fixturesDir } from './helpers.js';

describe('reading a Hasura CLI v3 project', () => {
  const md = openProject(join(fixturesDir, 'projects/chat')).metadata;

  test('includes are resolved into Hasura’s JSON form', () => {
    expect(md.sources.map((s) => s.name)).toEqual(['default']);
    expect(md.sources[0]!.tables.map((t) => `${t.table.schema}.${t.table.name}`)).toEqual([
      'public.channel_members',
      'public.channels',
      'public.messages',
      'public.reactions',
      'public.users',
    ]);
    expect(md.sources[0]!.configuration).toMatchObject({ connection_info: { database_url: { from_env: 'CHAT_DATABASE_URL' } } });
    expect(md.sources[0]!.tables[2]!.event_triggers![0]!.name).toBe('message_created_notify');
  });

  test('actions join actions.yaml and actions.graphql; custom types get their relationships', () => {
    expect(md.actions!.find((a) => a.name === 'searchMessages')!.definition).toEqual({
      kind: '',
      handler: '{{CHAT_FUNCTIONS_URL}}/actions/search',
      type: 'query',
      arguments: [
        { name: 'query', type: 'String!' },
        { name: 'channel_id', type: 'uuid' },
        { name: 'limit', type: 'Int' },
      ],
      output_type: '[MessageHit!]!',
    });
    expect(md.custom_types!.objects!.find((o) => o.name === 'MessageHit')!.relationships![0]).toMatchObject({ name: 'message', type: 'object' });
  });

  test('the other metadata files are carried through', () => {
    expect(md.allowlist).toEqual([{ collection: 'allowed-queries' }]);
    expect(md.inherited_roles).toEqual([{ role_name: 'member', role_set: ['user'] }]);
    expect((md.query_collections as Array<{ name: string }>)[0]!.name).toBe('allowed-queries');
    expect(md.network).toBeUndefined();
  });
});

describe('project layouts besides the CLI default', () => {
  test('tables listed inline in databases.yaml get new tables inline', () => {
    const files = new FileSet('/p', emptyProjectFiles());
    files.write(
      'metadata/databases/databases.yaml',
      '- name: default\n  kind: postgres\n  configuration:\n    connection_info:\n      database_url: postgres://x\n  tables:\n    - table:\n        name: users\n        schema: public\n',
    );
    install({ projectDir: '/p', files, catalog, plugins: ['audit'], envDir: null });
    const text = files.read('metadata/databases/databases.yaml')!;
    expect(text).toContain('    - table:\n        name: users\n        schema: public\n    - table:\n        name: entries\n        schema: audit\n');
    expect(readProject(files).metadata.sources[0]!.tables.map((t) => t.table.name)).toEqual(['users', 'entries']);
  });

  test('a custom metadata_directory is honoured', () => {
    const base = new Map([...emptyProjectFiles()].map(([k, v]) => [k.replace(/^metadata\//, 'meta/'), v]));
    base.set('config.yaml', 'version: 3\nmetadata_directory: meta\n');
    const files = new FileSet('/p', base);
    install({ projectDir: '/p', files, catalog, plugins: ['notes'], envDir: null });
    expect(files.read('meta/actions.yaml')).toContain('name: notesCreate');
    expect(files.read('metadata/actions.yaml')).toBeUndefined();
  });

  test('a project whose source is not called default gets the plugins in that source', () => {
    const files = new FileSet('/p', emptyProjectFiles());
    files.write(
      'metadata/databases/databases.yaml',
      '- name: app\n  kind: postgres\n  configuration:\n    connection_info:\n      database_url:\n        from_env: APP_DB\n  tables: "!include app/tables/tables.yaml"\n',
    );
    files.write('metadata/databases/app/tables/tables.yaml', '[]\n');
    const r = install({ projectDir: '/p', files, catalog, plugins: ['audit'], envDir: null });
    expect(files.read('metadata/databases/app/tables/tables.yaml')).toBe('- "!include audit_entries.yaml"\n');
    expect(r.migrations.every((m) => files.exists(`migrations/app/${m}/up.sql`))).toBe(true);
  });
});
