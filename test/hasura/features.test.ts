/**
 * Features and the newer metadata kinds (action relationships, tracked functions, remote schemas) through the
 * installer, the CLI and the Metadata API, with the `media` fixture plugin: install composes exactly what is
 * on, records it, writes `<PLUGIN>_FEATURES`; reinstalling with other features is exact; remove restores the
 * project byte for byte.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fragmentFromCatalog } from '../../src/hasura/fragment.js';
import { install, remove, STATE_FILE } from '../../src/hasura/installer.js';
import { MergeConflictError } from '../../src/hasura/merge.js';
import { applyPlugins, MetadataApi } from '../../src/hasura/metadata-api.js';
import { openProject } from '../../src/hasura/project.js';
import { composeProject } from '../../src/hasura/compose.js';
import type { HasuraMetadata } from '../../src/hasura/types.js';
import { fixtureCatalog, mediaPlugin, notesPlugin } from '../fixtures/plugins/catalog.js';
import { FakeHasuraMetadata } from './fake-hasura-metadata.js';
import { cli, copyFixture, diffTrees, fixturesDir, hashTree, type TempProject } from './helpers.js';

const catalogModule = join(fixturesDir, 'plugins', 'media-catalog.ts');

const catalog = fixtureCatalog([notesPlugin, mediaPlugin]);
const temps: TempProject[] = [];
const fixture = (name: 'empty' | 'chat') => {
  const t = copyFixture(name);
  temps.push(t);
  return t;
};
const fakes: FakeHasuraMetadata[] = [];
afterAll(async () => {
  for (const t of temps) t.cleanup();
  for (const f of fakes) await f.stop();
});

const read = (t: TempProject, rel: string) => readFileSync(join(t.dir, rel), 'utf8');
const readRoot = (t: TempProject, rel: string) => readFileSync(join(t.root, rel), 'utf8');
const state = (t: TempProject) => JSON.parse(read(t, STATE_FILE)) as { plugins: Record<string, { features: string[] }> };

function objects(md: HasuraMetadata) {
  const src = md.sources.find((s) => s.name === 'default')!;
  const media = src.tables.filter((x) => x.table.schema === 'media');
  return {
    actions: (md.actions ?? []).filter((a) => a.name.startsWith('media')).map((a) => a.name).sort(),
    types: [...(md.custom_types?.objects ?? []), ...(md.custom_types?.enums ?? [])].map((x) => x.name).filter((n) => n.startsWith('Media')).sort(),
    tables: media.map((x) => x.table.name).sort(),
    triggers: media.flatMap((x) => (x.event_triggers ?? []).map((e) => e.name)).sort(),
    crons: (md.cron_triggers ?? []).filter((c) => c.name.startsWith('media')).map((c) => c.name).sort(),
    functions: (src.functions ?? []).filter((f) => f.function.schema === 'media').map((f) => f.function.name).sort(),
    remote: (md.remote_schemas ?? []).map((r) => r.name),
  };
}

describe('install --features', () => {
  test('composes only what is on, records it and writes the settings of those features', async () => {
    const t = fixture('chat');
    const before = hashTree(t.root);
    const r = install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['scan'] });
    expect(r.changes).toEqual([{ plugin: 'media', status: 'added', to: '0.5.0' }]);
    expect(r.missing).toEqual(['MEDIA_SCAN_HOST']);
    const md = openProject(t.dir).metadata;
    expect(objects(md)).toEqual({
      actions: ['mediaScan', 'mediaUpload'],
      types: ['MediaScanResult', 'MediaUpload', 'MediaVerdict'],
      tables: ['item'],
      triggers: ['media_item_scan', 'media_item_uploaded'],
      crons: ['media_prune', 'media_rescan'],
      functions: ['search_items'],
      remote: ['media'],
    });
    expect(state(t).plugins.media!.features).toEqual(['scan']);
    const env = readRoot(t, '.env');
    expect(env).toContain('\nMEDIA_FEATURES=scan\n');
    expect(env).toContain('\nMEDIA_SCAN_HOST=\n');
    expect(env).not.toContain('MEDIA_THUMB_SIZE');
    expect(readRoot(t, '.env.example')).toContain('# MEDIA_FEATURES=thumbnails\n');

    // The action relationship to a table that is on; the remote schema with the secret header and its roles.
    const upload = md.custom_types!.objects!.find((o) => o.name === 'MediaUpload')!;
    expect(upload.relationships).toEqual([{ name: 'item', type: 'object', remote_table: { schema: 'media', name: 'item' }, field_mapping: { id: 'id' } }]);
    const rs = md.remote_schemas![0]!;
    expect(rs.definition).toEqual({
      url: '{{NSELF_PLUGINS_URL}}/remote-schemas/media',
      headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
      forward_client_headers: false,
      timeout_seconds: 60,
    });
    expect(rs.comment).toBe('Media statistics (nself-plugins:media@0.5.0)');
    expect(rs.permissions!.map((p) => p.role)).toEqual(['user']);
    expect(rs.permissions![0]!.definition.schema).toContain('mediaStats: MediaStats!');
    expect(md.sources[0]!.functions).toEqual([{ function: { schema: 'media', name: 'search_items' }, permissions: [{ role: 'user' }] }]);
    // The chat project's database lists no functions: they go inline under it.
    expect(read(t, 'metadata/databases/databases.yaml')).toContain('  functions:\n    - function:\n        name: search_items\n        schema: media\n      permissions:\n        - role: user\n');

    await remove({ projectDir: t.dir, catalog, plugins: ['media'] });
    expect(diffTrees(before, hashTree(t.root)).filter((p) => !p.includes('migrations/'))).toEqual([]);
  });

  test('reinstalling with other features swaps exactly their objects and settings; without --features keeps them', async () => {
    const t = fixture('empty');
    const before = hashTree(t.root);
    install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['scan'], settings: { MEDIA_SCAN_HOST: 'clamd' } });
    const r = install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['media:thumbnails'] });
    expect(r.changes).toEqual([{ plugin: 'media', status: 'updated', from: '0.5.0', to: '0.5.0' }]);
    const md = openProject(t.dir).metadata;
    expect(objects(md)).toEqual({
      actions: ['mediaThumbnail', 'mediaUpload'],
      types: ['MediaThumb', 'MediaUpload'],
      tables: ['item', 'thumbnail'],
      triggers: ['media_item_uploaded', 'media_thumbnail_made'],
      crons: ['media_prune'],
      functions: ['search_items', 'thumbnails_of'],
      remote: ['media'],
    });
    expect(md.custom_types!.objects!.find((o) => o.name === 'MediaThumb')!.relationships).toEqual([
      { name: 'thumbnails', type: 'array', remote_table: { schema: 'media', name: 'thumbnail' }, field_mapping: { itemId: 'item_id' } },
    ]);
    // The empty project has the CLI layout: one file per function, listed by an include line.
    expect(read(t, 'metadata/databases/default/functions/functions.yaml')).toBe('- "!include media_search_items.yaml"\n- "!include media_thumbnails_of.yaml"\n');
    expect(read(t, 'metadata/databases/default/functions/media_thumbnails_of.yaml')).toContain('custom_name: media_thumbnails_of');
    expect(state(t).plugins.media!.features).toEqual(['thumbnails']);
    const env = readRoot(t, '.env');
    expect(env).toContain('\nMEDIA_FEATURES=thumbnails\n');
    expect(env).not.toContain('MEDIA_SCAN_HOST');

    const again = install({ projectDir: t.dir, catalog, plugins: ['media'] });
    expect(again.changes).toEqual([{ plugin: 'media', status: 'unchanged', to: '0.5.0' }]);
    expect(again.files).toEqual([]);

    await remove({ projectDir: t.dir, catalog, plugins: ['media'] });
    expect(diffTrees(before, hashTree(t.root)).filter((p) => !p.includes('migrations/'))).toEqual([]);
  });

  test('an edited settings block stays; only its features line changes, and missing settings are named', () => {
    const t = fixture('empty');
    install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['thumbnails'] });
    const envPath = join(t.root, '.env');
    writeFileSync(envPath, readFileSync(envPath, 'utf8').replace('MEDIA_FEATURES=thumbnails', 'MEDIA_FEATURES=thumbnails\n# my note'));
    const r = install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['scan', 'thumbnails'] });
    const env = readFileSync(envPath, 'utf8');
    expect(env).toContain('MEDIA_FEATURES=scan,thumbnails\n# my note');
    expect(r.notes.join('\n')).toContain('MEDIA_FEATURES is now scan,thumbnails; also add MEDIA_SCAN_HOST');
  });

  test('refuses unknown features and unmet requirements, changing nothing', () => {
    const t = fixture('empty');
    const before = hashTree(t.root);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['media:warp'] })).toThrow('unknown feature media:warp; available:');
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['media'], features: ['transcode'] })).toThrow('feature "transcode" of plugin media needs feature "thumbnails"');
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('names the database of action relationships when it is not default', async () => {
    const t = fixture('empty');
    install({ projectDir: t.dir, catalog, plugins: ['media'], source: 'appdb' });
    const md = openProject(t.dir).metadata;
    expect(md.custom_types!.objects!.find((o) => o.name === 'MediaUpload')!.relationships![0]).toMatchObject({ name: 'item', source: 'appdb' });
    expect(md.sources.find((s) => s.name === 'appdb')!.functions!.map((f) => f.function.name)).toEqual(['search_items', 'thumbnails_of']);
    await remove({ projectDir: t.dir, catalog, plugins: ['media'] });
    expect(openProject(t.dir).metadata.sources).toEqual([]);
  });

  test('a function of the plugin’s schema tracked by the project is a conflict', () => {
    const t = fixture('chat');
    const db = join(t.dir, 'metadata/databases/databases.yaml');
    writeFileSync(db, readFileSync(db, 'utf8') + '  functions:\n    - function:\n        schema: media\n        name: search_items\n');
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['media'] })).toThrow(MergeConflictError);
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['media'] })).toThrow('function media.search_items is already tracked by the project');
  });
});

describe('compose and info', () => {
  test('the suite’s composed project holds every feature', () => {
    const composed = composeProject(catalog);
    expect(composed.get('metadata/actions.graphql')).toContain('mediaScan(');
    expect(composed.get('metadata/actions.graphql')).toContain('mediaThumbnail(');
    expect(composed.get('metadata/remote_schemas.yaml')).toContain('name: media');
    expect(composed.get('metadata/databases/default/functions/functions.yaml')).toContain('media_thumbnails_of.yaml');
  });

  test('info shows what each feature switches, and what a project has on', async () => {
    const env = { NSELF_PLUGINS_CATALOG: catalogModule };
    const info = await cli(['info', 'media'], { env });
    expect(info.out).toContain('features (MEDIA_FEATURES; on: thumbnails, default):');
    expect(info.out).toContain('scan [off] — Scan uploads (action mediaScan, event trigger media_item_scan, cron media_rescan, job media.scan, service scanner, setting MEDIA_SCAN_HOST)');
    expect(info.out).toContain('transcode [off; needs thumbnails] — Transcode videos');
    expect(info.out).toContain('MEDIA_SCAN_HOST (required) [feature scan] — Host of the scanner.');
    const t = fixture('empty');
    expect((await cli(['install', 'media', '--project', 'hasura', '--yes', '--features', 'scan'], { cwd: t.root, env })).code).toBe(0);
    const installed = await cli(['info', 'media', '--project', 'hasura'], { cwd: t.root, env });
    expect(installed.out).toContain('features (MEDIA_FEATURES; on: scan, installed in hasura):');
    expect(installed.out).toContain('mutation mediaScan(itemId: uuid!): MediaScanResult!');
    expect(installed.out).not.toContain('mutation mediaThumbnail');
    expect((await cli(['info', 'media', '--features', 'warp'], { env })).err).toContain('unknown feature "warp" of plugin media');
  });
});

describe('the Metadata API path', () => {
  test('apply merges functions, relationships and the remote schema Hasura validates, with the features asked for', async () => {
    const chat = openProject(join(fixturesDir, 'projects/chat')).metadata;
    const f = await new FakeHasuraMetadata({
      adminSecret: 's',
      tables: ['public.users', 'public.channels', 'public.channel_members', 'public.messages', 'public.reactions', 'media.item', 'media.thumbnail'],
      functions: ['media.search_items', 'media.thumbnails_of'],
      metadata: chat as unknown as Record<string, unknown>,
    }).start();
    fakes.push(f);
    const api = new MetadataApi({ endpoint: f.url, adminSecret: 's' });
    const r = await applyPlugins(api, [fragmentFromCatalog(catalog, catalog.plugins[1]!, ['thumbnails'])]);
    expect(r.inconsistent).toEqual([]);
    const md = f.metadata as unknown as HasuraMetadata;
    expect(objects(md).functions).toEqual(['search_items', 'thumbnails_of']);
    expect(objects(md).remote).toEqual(['media']);
    const again = await applyPlugins(api, [fragmentFromCatalog(catalog, catalog.plugins[1]!, ['thumbnails'])]);
    expect(again.changes).toEqual([{ plugin: 'media', status: 'unchanged', to: '0.5.0' }]);

    // The CLI reads the features the server runs with from <PLUGIN>_FEATURES.
    const out = await cli(['apply', '--endpoint', f.url, '--admin-secret', 's', '--plugins', 'media'], { env: { NSELF_PLUGINS_CATALOG: catalogModule, MEDIA_FEATURES: 'scan,thumbnails' } });
    expect(out.code).toBe(0);
    expect(objects(f.metadata as unknown as HasuraMetadata).actions).toEqual(['mediaScan', 'mediaThumbnail', 'mediaUpload']);
  });

  test('an untracked relationship target or a missing function is reported as Hasura reports it', async () => {
    const f = await new FakeHasuraMetadata({ adminSecret: 's', tables: ['media.item'], functions: [] }).start();
    fakes.push(f);
    const api = new MetadataApi({ endpoint: f.url, adminSecret: 's' });
    await expect(applyPlugins(api, [fragmentFromCatalog(catalog, catalog.plugins[1]!, [])])).rejects.toThrow(/function media\.search_items/);
  });
});
