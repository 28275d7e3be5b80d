/**
 * Plugin services and remote schemas through a real runtime: services created in dependency order and closed in
 * reverse, reached typed from handlers of the plugin and of plugins that depend on it, absent with their
 * feature; a plugin's remote schema served to Hasura's headers through the real server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type ServerRuntime } from '../../src/core/runtime.js';
import { createServer, type NselfServer } from '../../src/core/server.js';
import { defineService, definePlugin, type ActionContext, type PluginManifest } from '../../src/core/plugin.js';
import { ServiceError } from '../../src/core/services.js';
import { fixtureMigrationsDir, mediaEvents, mediaPlugin, mediaScanner, mediaStore } from '../fixtures/plugins/catalog.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../support/db.js';
import { captureLog, SECRET } from './helpers.js';

const MEDIA_SDL = readFileSync(join(fixtureMigrationsDir, '..', 'media', 'actions.graphql'), 'utf8');
const GALLERY_SDL = 'extend type Query { galleryBucket: String! }';
const LONER_SDL = 'extend type Query { lonerPeek: String }';

const galleryPlugin = definePlugin({
  name: 'gallery',
  version: '1.0.0',
  description: 'Uses the media store (depends on media).',
  dependsOn: ['media'],
  actions: {
    galleryBucket: { handler: async (_input: unknown, ctx: ActionContext) => ctx.service(mediaStore).put('cover.png'), permissions: ['user'] },
  },
});

const lonerPlugin = definePlugin({
  name: 'loner',
  version: '1.0.0',
  description: 'Uses the media store without declaring it.',
  optionalDependsOn: [],
  actions: { lonerPeek: { handler: async (_input: unknown, ctx: ActionContext) => ctx.service(mediaStore).bucket } },
});

const sdlOf = (p: string) => ({ media: MEDIA_SDL, gallery: GALLERY_SDL, loner: LONER_SDL })[p];

let db: ScratchDatabase;
beforeAll(async () => {
  db = await createScratchDatabase('services');
  const c = new (await import('pg')).default.Client({ connectionString: db.url });
  await c.connect();
  await c.query(readFileSync(join(fixtureMigrationsDir, '1800000000400_media_init', 'up.sql'), 'utf8'));
  await c.end();
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(() => {
  mediaEvents.length = 0;
});

async function runtimeWith(env: Record<string, string>, plugins: PluginManifest<any>[] = [mediaPlugin, galleryPlugin, lonerPlugin]) {
  return createRuntime(
    { DATABASE_URL: db.url, REDIS_URL, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, ...env },
    { plugins, migrate: false, actionsSdl: sdlOf, log: captureLog().log, defaultMetrics: false },
  );
}

const session = { role: 'user', userId: 'u1', variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' } };

describe('plugin services', () => {
  let rt: ServerRuntime | undefined;
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
  });

  it('creates services in order (a service may use an earlier one) and closes them in reverse', async () => {
    rt = await runtimeWith({ PLUGINS_ENABLED: 'media', MEDIA_FEATURES: 'scan,thumbnails', MEDIA_SCAN_HOST: 'clamd.local' }, [mediaPlugin]);
    expect(mediaEvents).toEqual(['create store media', 'create scanner clamd.local']);
    const ctx = rt.contextFor('media', { session, requestId: 'r1' });
    expect(ctx.service(mediaScanner).store).toBe(ctx.service(mediaStore));
    expect(ctx.service(mediaStore).put('a.png')).toBe('media/a.png');
    expect([...ctx.features].sort()).toEqual(['scan', 'thumbnails']);
    await rt.close();
    rt = undefined;
    expect(mediaEvents).toEqual(['create store media', 'create scanner clamd.local', 'close scanner', 'close store']);
  });

  it('leaves out a service whose feature is off: service() says why, optionalService() is undefined', async () => {
    rt = await runtimeWith({ PLUGINS_ENABLED: 'media' }, [mediaPlugin]);
    expect(mediaEvents).toEqual(['create store media']);
    const ctx = rt.contextFor('media', { session, requestId: 'r1' });
    expect(() => ctx.service(mediaScanner)).toThrow(new ServiceError('service scanner needs feature "scan" of plugin media, which is off'));
    expect(ctx.optionalService(mediaScanner)).toBeUndefined();
  });

  it('lets a dependant plugin use the service, and refuses a plugin that does not declare the dependency', async () => {
    rt = await runtimeWith({ PLUGINS_ENABLED: 'media,gallery,loner' });
    const ctx = rt.contextFor('gallery', { session, requestId: 'r2', action: { name: 'galleryBucket', requestQuery: null } }) as ActionContext;
    const r = await rt.handlers.actions.get('galleryBucket')!.spec.handler({}, ctx);
    expect(r).toBe('media/cover.png');
    const loner = rt.contextFor('loner', { session, requestId: 'r3' });
    expect(() => loner.service(mediaStore)).toThrow('plugin loner uses service store of plugin media but does not declare media in dependsOn or optionalDependsOn');
  });

  it('answers optionalService with undefined when an optional dependency is not enabled', async () => {
    const curious = definePlugin({ name: 'curious', version: '1', description: 'optionally uses media', optionalDependsOn: ['media'] });
    rt = await runtimeWith({ PLUGINS_ENABLED: 'curious' }, [mediaPlugin, curious]);
    const ctx = rt.contextFor('curious', { session, requestId: 'r4' });
    expect(ctx.optionalService(mediaStore)).toBeUndefined();
    expect(() => ctx.service(mediaStore)).toThrow('service store needs plugin media, which is not enabled');
  });

  it('refuses a token no manifest lists', async () => {
    rt = await runtimeWith({ PLUGINS_ENABLED: 'media' }, [mediaPlugin]);
    const stray = defineService({ name: 'stray', create: () => 1 });
    expect(() => rt!.contextFor('media', { session, requestId: 'r5' }).service(stray)).toThrow("service stray is not listed in any plugin's manifest services");
  });

  it('fails the boot when a service fails to start, closing the ones already created', async () => {
    const failing = defineService({
      name: 'flaky',
      create() {
        throw new Error('connection refused');
      },
    });
    const broken = definePlugin({ name: 'broken', version: '1', description: 'x', dependsOn: ['media'], services: [failing] });
    await expect(runtimeWith({ PLUGINS_ENABLED: 'media,broken' }, [mediaPlugin, broken])).rejects.toThrow('service flaky of plugin broken failed to start: connection refused');
    expect(mediaEvents).toEqual(['create store media', 'close store']);
  });
});

describe('a plugin’s remote schema through the real server', () => {
  let rt: ServerRuntime;
  let server: NselfServer;
  let url: string;
  beforeAll(async () => {
    rt = await runtimeWith({ PLUGINS_ENABLED: 'media' }, [mediaPlugin]);
    server = createServer(rt);
    url = (await server.listen(0, '127.0.0.1')).url;
    await rt.db.query("insert into media.item (owner_id, name, size) values ('u1', 'a.png', 10), ('u2', 'b.png', 20)");
  });
  afterAll(async () => {
    await server?.shutdown('test done');
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/remote-schemas/media`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('resolves with the session Hasura forwards and the plugin’s services', async () => {
    const res = await post({ query: 'query Q { mediaStats { bucket role userId items } }', operationName: 'Q' }, { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { mediaStats: { bucket: 'media', role: 'user', userId: 'u1', items: 2 } } });
  });

  it('runs Hasura’s introspection (no session) as admin', async () => {
    const res = await post({ query: '{ __schema { queryType { name } } mediaStats { role } }' });
    expect(await res.json()).toEqual({ data: { __schema: { queryType: { name: 'Query' } }, mediaStats: { role: 'admin' } } });
  });

  it('keeps an ActionError’s message and extensions and hides anything else', async () => {
    const body = (await (await post({ query: '{ mediaForbidden mediaBroken }' }, { 'x-hasura-role': 'user' })).json()) as { data: unknown; errors: Array<Record<string, unknown>> };
    expect(body.data).toEqual({ mediaForbidden: null, mediaBroken: null });
    expect(body.errors).toEqual([
      { message: 'not for you', path: ['mediaForbidden'], extensions: { hint: 'ask an admin', code: 'media/forbidden' } },
      { message: 'internal error', path: ['mediaBroken'], extensions: { code: 'internal' } },
    ]);
    expect(JSON.stringify(body)).not.toContain('hunter2');
  });

  it('answers GraphQL validation errors as GraphQL errors', async () => {
    const body = (await (await post({ query: '{ mediaNope }' })).json()) as { errors: Array<{ message: string }> };
    expect(body.errors[0]!.message).toContain('Cannot query field "mediaNope" on type "Query".');
  });

  it('refuses requests without the secret before reading them, and malformed or unknown ones clearly', async () => {
    const unauth = await fetch(`${url}/remote-schemas/media`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ mediaStats { items } }"}' });
    expect(unauth.status).toBe(401);
    expect(await unauth.json()).toEqual({ errors: [{ message: 'missing or wrong x-nself-plugins-secret header', extensions: { code: 'unauthorized' } }] });
    expect((await post({ query: 42 })).status).toBe(400);
    expect((await post({ query: '{ mediaStats { items } }', variables: [1] })).status).toBe(400);
    expect((await post('{not json')).status).toBe(400);
    const unknown = await fetch(`${url}/remote-schemas/nope`, { method: 'POST', headers: { 'x-nself-plugins-secret': SECRET }, body: '{}' });
    expect(unknown.status).toBe(404);
  });
});
