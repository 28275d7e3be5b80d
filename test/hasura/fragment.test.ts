import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  buildFragment,
  checkFragmentsTogether,
  DEFAULT_CRON_RETRY,
  DEFAULT_EVENT_RETRY,
  fragmentFromCatalog,
  FragmentError,
  parseMarker,
  readMigrations,
} from '../../src/hasura/fragment.js';
import { definePlugin, type PluginManifest } from '../../src/core/plugin.js';
import { suiteCatalog } from '../../src/hasura/catalog.js';
import { catalog, auditPlugin, fixtureMigrationsDir, notesPlugin } from '../fixtures/plugins/catalog.js';
import { fixturesDir } from './helpers.js';

const notesSdl = readFileSync(join(fixturesDir, 'plugins/notes/actions.graphql'), 'utf8');
const h = async () => undefined;

function problems(manifest: PluginManifest<any>, sdl?: string): string[] {
  try {
    buildFragment({ manifest, ...(sdl !== undefined ? { sdl } : {}), migrations: [] });
  } catch (e) {
    if (e instanceof FragmentError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('fragment from a manifest', () => {
  const notes = fragmentFromCatalog(catalog, catalog.plugins[0]!);

  test('actions: handler URL, secret header, kind, type from the SDL, permissions as [{role}], marked comment', () => {
    expect(notes.actions.find((a) => a.name === 'notesSearch')).toEqual({
      name: 'notesSearch',
      definition: {
        handler: '{{NSELF_PLUGINS_URL}}/actions/notesSearch',
        type: 'query',
        arguments: [{ name: 'input', type: 'NotesSearchInput!' }],
        output_type: '[NotesNote!]!',
        headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
        forward_client_headers: false,
        timeout: 5,
      },
      permissions: [{ role: 'user' }, { role: 'guest' }],
      comment: 'Searches the caller’s notes (nself-plugins:notes@1.2.0)',
    });
    expect(parseMarker(notes.actions[0]!.comment)).toEqual({ plugin: 'notes', version: '1.2.0' });
  });

  test('event triggers get the suite’s retry defaults (Hasura’s own default is no retry)', () => {
    const trig = notes.tables[0]!.event_triggers![0]!;
    expect(trig).toEqual({
      name: 'notes_note_created',
      definition: { enable_manual: false, insert: { columns: '*' } },
      retry_conf: { ...DEFAULT_EVENT_RETRY },
      webhook: '{{NSELF_PLUGINS_URL}}/events/notes_note_created',
      headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
    });
    expect(DEFAULT_EVENT_RETRY.num_retries).toBeGreaterThan(0);
    // A partial retry_conf keeps the other defaults.
    const audit = fragmentFromCatalog(catalog, catalog.plugins[2]!);
    expect(audit.tables[0]!.event_triggers![0]!.retry_conf).toEqual({ ...DEFAULT_EVENT_RETRY, num_retries: 2 });
    expect(audit.tables[0]!.event_triggers![0]!.definition.update).toEqual({ columns: ['what'], payload: ['id', 'what'] });
    // The handler is code, not metadata.
    expect(JSON.stringify(audit)).not.toContain('handler":');
  });

  test('crons use Hasura’s cron key names, include_in_metadata and a marked comment', () => {
    expect(notes.crons).toEqual([
      {
        name: 'notes_purge_deleted',
        webhook: '{{NSELF_PLUGINS_URL}}/cron/notes_purge_deleted',
        schedule: '0 4 * * *',
        include_in_metadata: true,
        payload: { olderThanDays: 30 },
        retry_conf: { ...DEFAULT_CRON_RETRY },
        headers: [{ name: 'x-nself-plugins-secret', value_from_env: 'NSELF_PLUGINS_WEBHOOK_SECRET' }],
        comment: 'Purges deleted notes (nself-plugins:notes@1.2.0)',
      },
    ]);
  });

  test('migrations are the plugin’s folders; the longest owner name wins', () => {
    expect(notes.migrations.map((m) => `${m.version}_${m.name}`)).toEqual(['1800000000100_notes_init']);
    expect(readMigrations(fixtureMigrationsDir, 'nself_plugins', ['nself_plugins', 'notes']).map((m) => m.name)).toEqual(['nself_plugins_init']);
    expect(readMigrations(fixtureMigrationsDir, 'nself', ['nself', 'nself_plugins'])).toEqual([]);
  });

  test('the suite’s own plugins all build, and their names do not clash', () => {
    const suite = suiteCatalog();
    const fragments = suite.plugins.map((e) => fragmentFromCatalog(suite, e));
    expect(() => checkFragmentsTogether(fragments)).not.toThrow();
  });
});

describe('manifest validation', () => {
  test('SDL and manifest must declare the same actions', () => {
    const m = definePlugin({ ...notesPlugin, actions: { notesCreate: { handler: h }, notesExtra: { handler: h } } });
    expect(problems(m, notesSdl)).toEqual([
      `plugin notes: action notesExtra has no field in actions/notes/actions.graphql (add it to extend type Query or Mutation)`,
      'plugin notes: actions/notes/actions.graphql declares action notesSearch, which has no entry in the manifest\'s actions',
    ]);
    expect(problems(notesPlugin, notesSdl + '\ntype NotesOrphan { a: Int }\n')).toEqual([
      'plugin notes: type NotesOrphan in actions/notes/actions.graphql is not used by any action',
    ]);
  });

  test('every problem is reported at once, naming plugin and object', () => {
    const m = definePlugin({
      name: 'shop',
      version: '1.0.0',
      description: 'x',
      tables: [
        {
          table: { schema: 'public', name: 'orders' },
          select_permissions: [
            { role: 'user', permission: { columns: '*', filter: {} } },
            { role: 'user', permission: { columns: '*', filter: {} } },
          ],
          event_triggers: [
            { name: 'order_created', definition: { insert: { columns: '*' } }, handler: h },
            { name: 'shop_order_created_and_then_something_much_longer', definition: {}, handler: h },
          ],
        },
      ],
      actions: { ShopCheckout: { handler: h, permissions: ['admin'] }, shopList: { handler: h, kind: 'asynchronous' } },
      crons: { shop_nightly: { schedule: '0 0 * * * *', handler: h }, shop_bad: { schedule: '61 * * * *', handler: h }, 'Shop-Mixed': { schedule: '* * * * *', handler: h } },
    });
    const sdl = 'extend type Mutation { ShopCheckout: Boolean }\nextend type Query { shopList: Boolean }';
    expect(problems(m, sdl)).toEqual([
      'plugin shop: action name ShopCheckout must be camelCase and start with "shop"',
      'plugin shop: action ShopCheckout: permission roles must be non-empty and not admin (admin always has access)',
      'plugin shop: action shopList: a query cannot be asynchronous (Hasura runs queries synchronously)',
      'plugin shop: table public.orders: table public.orders must live in the plugin\'s schema "shop"',
      'plugin shop: table public.orders: select permission for role user is declared twice',
      'plugin shop: event trigger name "order_created" must be snake_case and start with "shop_"',
      'plugin shop: event trigger name "shop_order_created_and_then_something_much_longer" is 49 characters; at most 42 (Hasura names PostgreSQL functions after it)',
      'plugin shop: event trigger shop_order_created_and_then_something_much_longer: enable at least one of insert, update, delete, enable_manual',
      'plugin shop: cron trigger shop_nightly: schedule "0 0 * * * *" must have 5 fields (Hasura evaluates it in UTC, without seconds)',
      expect.stringMatching(/^plugin shop: cron trigger shop_bad: schedule "61 \* \* \* \*" is not a valid cron expression/),
      'plugin shop: cron trigger name "Shop-Mixed" must be snake_case and start with "shop_"',
    ]);
  });

  test('names are unique across plugins', () => {
    const clash = definePlugin({ ...auditPlugin, name: 'other', tables: [{ table: { schema: 'other', name: 'entries' }, event_triggers: [{ ...auditPlugin.tables![0]!.event_triggers![0]!, name: 'audit_entry_created' }] }] });
    const a = buildFragment({ manifest: auditPlugin, migrations: [] });
    // The trigger name check is per plugin; the cross-plugin check catches the shared name.
    expect(() => buildFragment({ manifest: clash, migrations: [] })).toThrow('must be snake_case and start with "other_"');
    const b = { ...buildFragment({ manifest: { ...clash, tables: [] }, migrations: [] }), tables: a.tables, plugin: 'other' };
    expect(() => checkFragmentsTogether([a, b])).toThrow('table audit.entries is declared by plugin audit and by plugin other');
  });

  test('plugin name, version and migration names', () => {
    expect(problems(definePlugin({ name: 'Bad-Name', version: '1', description: '' }))).toEqual(['plugin Bad-Name: name must be lower snake_case (it is the PostgreSQL schema)']);
    expect(problems(definePlugin({ name: 'public', version: '1', description: '' }))).toEqual(['plugin public: name is reserved']);
    expect(() =>
      buildFragment({ manifest: definePlugin({ name: 'x', version: '1', description: '', config: z.object({}) }), migrations: [{ version: '1', name: 'y_init', up: '', down: '' }] }),
    ).toThrow('plugin x: migration 1_y_init must be named <version>_x_<what>');
  });
});
