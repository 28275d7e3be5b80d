import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fragmentFromCatalog } from '../../src/hasura/fragment.js';
import { install } from '../../src/hasura/installer.js';
import { sameMetadata } from '../../src/hasura/merge.js';
import { applyPlugins, InconsistentMetadataError, MetadataApi } from '../../src/hasura/metadata-api.js';
import { openProject } from '../../src/hasura/project.js';
import type { HasuraMetadata } from '../../src/hasura/types.js';
import { catalog } from '../fixtures/plugins/catalog.js';
import { FakeHasuraMetadata } from './fake-hasura-metadata.js';
import { catalogModule, cli, copyFixture, fixturesDir } from './helpers.js';
import { join } from 'node:path';

const SECRET = 'test-admin-secret';
const chatMetadata = openProject(join(fixturesDir, 'projects/chat')).metadata;
const CHAT_TABLES = ['public.users', 'public.channels', 'public.channel_members', 'public.messages', 'public.reactions'];
const PLUGIN_TABLES = ['notes.notes', 'tags.tags', 'audit.entries'];
const fragments = () => catalog.plugins.map((e) => fragmentFromCatalog(catalog, e));

const fakes: FakeHasuraMetadata[] = [];
async function fake(opts: { tables?: string[]; metadata?: HasuraMetadata } = {}): Promise<FakeHasuraMetadata> {
  const f = await new FakeHasuraMetadata({
    adminSecret: SECRET,
    tables: opts.tables ?? [...CHAT_TABLES, ...PLUGIN_TABLES],
    metadata: (opts.metadata ?? chatMetadata) as unknown as Record<string, unknown>,
  }).start();
  fakes.push(f);
  return f;
}
afterAll(async () => {
  for (const f of fakes) await f.stop();
});

const env = { NSELF_PLUGINS_CATALOG: catalogModule };
const types = (f: FakeHasuraMetadata) => f.calls.map((c) => `${c.type}:${c.status}`);

describe('Metadata API client', () => {
  test('export → merge → replace → consistency check; user metadata kept', async () => {
    const f = await fake();
    const api = new MetadataApi({ endpoint: f.url, adminSecret: SECRET });
    const r = await applyPlugins(api, fragments());
    expect(r.changes.map((c) => c.status)).toEqual(['added', 'added', 'added']);
    expect([r.from, r.to, r.attempts, r.inconsistent]).toEqual([1, 2, 1, []]);
    expect(types(f)).toEqual(['export_metadata:200', 'replace_metadata:200', 'get_inconsistent_metadata:200']);
    const replace = f.calls[1]!.body;
    expect(replace).toMatchObject({ type: 'replace_metadata', version: 2, resource_version: 1, args: { allow_inconsistent_metadata: false } });

    const md = f.metadata as unknown as HasuraMetadata;
    expect(md.sources[0]!.tables.slice(0, 5)).toEqual(chatMetadata.sources[0]!.tables);
    // JSON actions are complete: arguments and output type come from the SDL.
    expect(md.actions!.find((a) => a.name === 'notesSearch')!.definition).toMatchObject({
      type: 'query',
      arguments: [{ name: 'input', type: 'NotesSearchInput!' }],
      output_type: '[NotesNote!]!',
      timeout: 5,
    });
    // custom_types is the full merged set (replace_metadata replaces all of them).
    expect(md.custom_types!.objects!.map((o) => o.name)).toEqual(['InviteResult', 'MessageHit', 'NotesNote', 'TagsAttachResult']);
    expect(md.custom_types!.enums!.map((o) => o.name)).toEqual(['InviteStatus', 'NotesOrder']);
  });

  test('applying twice is a no-op (no replace_metadata)', async () => {
    const f = await fake();
    const api = new MetadataApi({ endpoint: `${f.url}/v1/metadata`, adminSecret: SECRET });
    await applyPlugins(api, fragments());
    f.calls.length = 0;
    const r = await applyPlugins(api, fragments());
    expect(r.changes.map((c) => c.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(r.from).toBe(r.to);
    expect(types(f)).toEqual(['export_metadata:200', 'get_inconsistent_metadata:200']);
  });

  test('the API merge and the file merge produce the same metadata', async () => {
    const f = await fake();
    await applyPlugins(new MetadataApi({ endpoint: f.url, adminSecret: SECRET }), fragments());
    const t = copyFixture('chat');
    try {
      install({ projectDir: t.dir, catalog, plugins: ['notes', 'tags', 'audit'], envDir: null });
      expect(sameMetadata(openProject(t.dir).metadata, f.metadata)).toBe(true);
    } finally {
      t.cleanup();
    }
  });

  test('a stale resource_version (409 conflict) is retried from a fresh export', async () => {
    const f = await fake();
    f.concurrentWritesBeforeReplace = 2;
    const r = await applyPlugins(new MetadataApi({ endpoint: f.url, adminSecret: SECRET }), fragments(), { backoffMs: 1 });
    expect(r.attempts).toBe(3);
    expect(types(f)).toEqual([
      'export_metadata:200',
      'replace_metadata:409',
      'export_metadata:200',
      'replace_metadata:409',
      'export_metadata:200',
      'replace_metadata:200',
      'get_inconsistent_metadata:200',
    ]);
    expect((f.metadata as unknown as HasuraMetadata).actions!.some((a) => a.name === 'notesCreate')).toBe(true);
  });

  test('gives up after the bounded number of conflicts', async () => {
    const f = await fake();
    f.concurrentWritesBeforeReplace = 10;
    await expect(applyPlugins(new MetadataApi({ endpoint: f.url, adminSecret: SECRET }), fragments(), { maxAttempts: 3, backoffMs: 1 })).rejects.toThrow(
      'the metadata kept changing while applying (3 attempts',
    );
    expect(types(f).filter((t) => t.startsWith('replace'))).toEqual(['replace_metadata:409', 'replace_metadata:409', 'replace_metadata:409']);
  });

  test('inconsistent merge (tables not migrated yet): every object reported, metadata unchanged', async () => {
    const f = await fake({ tables: CHAT_TABLES });
    const before = structuredClone(f.metadata);
    const err = await applyPlugins(new MetadataApi({ endpoint: f.url, adminSecret: SECRET }), fragments()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InconsistentMetadataError);
    const e = err as InconsistentMetadataError;
    expect(e.objects).toHaveLength(3);
    expect(e.message).toContain('table notes.notes in source default: Inconsistent object: no such table/view exists in source: "notes.notes"');
    expect(e.message).toContain('hasura migrate apply');
    expect(f.metadata).toEqual(before);
    expect(f.resourceVersion).toBe(1);
  });

  test('a user action with a plugin action’s name is a conflict; nothing is replaced', async () => {
    const md = structuredClone(chatMetadata);
    md.actions![0]!.name = 'notesCreate';
    const f = await fake({ metadata: md });
    await expect(applyPlugins(new MetadataApi({ endpoint: f.url, adminSecret: SECRET }), fragments())).rejects.toThrow(
      'plugin notes: action notesCreate already exists, defined by the project',
    );
    expect(types(f)).toEqual(['export_metadata:200']);
  });
});

describe('nself-plugins apply', () => {
  test('applies and reports', async () => {
    const f = await fake();
    const r = await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET, '--plugins', 'tags'], { env });
    expect(r.code).toBe(0);
    expect(r.out).toBe('added notes@1.2.0\nadded tags@0.3.0\nmetadata replaced (resource_version 1 → 2)');
  });

  test('inconsistencies found after applying are listed and exit 1', async () => {
    const f = await fake();
    expect((await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET], { env })).code).toBe(0);
    f.tables.delete('audit.entries'); // dropped behind Hasura's back
    const r = await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET], { env });
    expect(r.code).toBe(1);
    expect(r.err).toContain('Hasura reports inconsistent metadata:\n  - table audit.entries in source default: Inconsistent object');
  });

  test('wrong admin secret', async () => {
    const f = await fake();
    const r = await cli(['apply', '--endpoint', f.url, '--admin-secret', 'wrong'], { env });
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: Hasura rejected the admin secret (HTTP 401): invalid x-hasura-admin-secret/x-hasura-access-key; pass --admin-secret or set HASURA_GRAPHQL_ADMIN_SECRET');
  });

  test('admin secret and endpoint from the environment', async () => {
    const f = await fake();
    const r = await cli(['apply', '--plugins', 'audit'], { env: { ...env, HASURA_GRAPHQL_ENDPOINT: f.url, HASURA_GRAPHQL_ADMIN_SECRET: SECRET } });
    expect(r.code).toBe(0);
    expect(r.out).toContain('added audit@2.0.0');
  });

  test('HTTP 500 with an HTML page, 500 with Hasura’s JSON, garbage with 200: clear errors', async () => {
    const f = await fake();
    f.nextRaw = { status: 500, body: '<html><body>502 Bad Gateway</body></html>' };
    let r = await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET], { env });
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: Hasura at ${f.url}/v1/metadata answered export_metadata with HTTP 500 and a body that is not JSON: <html><body>502 Bad Gateway</body></html>`);

    f.nextRaw = { status: 500, body: JSON.stringify({ path: '$', error: 'database query error', code: 'unexpected' }), contentType: 'application/json' };
    r = await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET], { env });
    expect(r.err).toBe('error: Hasura rejected export_metadata (HTTP 500, unexpected): database query error');

    f.nextRaw = { status: 200, body: '{"resource_version": "x"}', contentType: 'application/json' };
    r = await cli(['apply', '--endpoint', f.url, '--admin-secret', SECRET], { env });
    expect(r.code).toBe(1);
    expect(r.err).toContain('answered export_metadata without {resource_version, metadata.sources}');
    expect(f.resourceVersion).toBe(1);
  });

  test('connection refused and a bad endpoint', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    let r = await cli(['apply', '--endpoint', `http://127.0.0.1:${port}`, '--admin-secret', SECRET], { env });
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: cannot reach Hasura at http://127.0.0.1:${port}/v1/metadata (export_metadata): ECONNREFUSED`);
    r = await cli(['apply', '--endpoint', 'hasura:8080', '--admin-secret', SECRET], { env });
    expect(r.code).toBe(1);
    expect(r.err).toContain('--endpoint must be an http(s) URL');
    r = await cli(['apply', '--admin-secret', SECRET], { env });
    expect(r.err).toBe('error: --endpoint is required (or set HASURA_GRAPHQL_ENDPOINT)');
  });
});
