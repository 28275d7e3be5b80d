/**
 * Table → event mappings through the core's install options and project triggers: `install webhooks --map
 * channels:insert=channel.created,…` stores WEBHOOKS_MAP and puts one trigger per mapped table of the user's
 * project; a write on that table reaches `map_row`, which emits the event — delivered, signed, to the endpoints
 * that take it, once however often Hasura delivers the row change.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { install } from '../../../hasura/installer.js';
import { suiteCatalog } from '../../../hasura/catalog.js';
import { createRuntime } from '../../../core/runtime.js';
import { createServer } from '../../../core/server.js';
import { createHasuraHarness } from '../../../testing/index.js';
import { createScratchDatabase } from '../../../../test/support/db.js';
import { copyFixture, fixturesDir, type TempProject } from '../../../../test/hasura/helpers.js';
import { parseMappings, webhooksConfig } from '../config.js';
import { mappingTriggerName, mappingTriggers } from '../lib/mappings.js';
import { msgIdOf } from '../lib/deliver.js';
import { Receiver } from './support/receiver.js';
import { waitFor } from './support/stack.js';

const MAP = 'channels:insert=channel.created,channels:update=channel.updated,users:delete=user.deleted';
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('mapping settings', () => {
  test('parse into table, operation and event type; bad entries are refused naming them', () => {
    expect(parseMappings('nchat_messages:insert=message.created, app.orders:update=order.updated,nchat_messages:insert=message.created')).toEqual([
      { schema: 'public', table: 'nchat_messages', op: 'insert', type: 'message.created' },
      { schema: 'app', table: 'orders', op: 'update', type: 'order.updated' },
    ]);
    for (const bad of ['messages=message.created', 'messages:upsert=message.created', 'Messages:insert=message.created', 'messages:insert=created', 'messages; drop:insert=a.b']) {
      const r = webhooksConfig.safeParse({ WEBHOOKS_MAP: bad });
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.message).toContain('is not <table>:<insert|update|delete>=<event.type>');
    }
  });

  test('become one trigger per table with the mapped operations', () => {
    expect(mappingTriggers(parseMappings(MAP))).toEqual([
      { name: 'webhooks_map_channels', table: { schema: 'public', name: 'channels' }, insert: { columns: '*' }, update: { columns: '*' }, handler: 'map_row', retry_conf: { num_retries: 10, interval_sec: 10, timeout_sec: 60 } },
      { name: 'webhooks_map_users', table: { schema: 'public', name: 'users' }, delete: { columns: '*' }, handler: 'map_row', retry_conf: { num_retries: 10, interval_sec: 10, timeout_sec: 60 } },
    ]);
    const long = mappingTriggerName('analytics', 'a_really_long_table_name_for_events');
    expect(long.length).toBeLessThanOrEqual(42);
    expect(long).toMatch(/^webhooks_map_analytics_a_really_[a-z_]*_[0-9a-f]{8}$/);
    expect(mappingTriggerName('analytics', 'a_really_long_table_name_for_events_2')).not.toBe(long);
  });
});

describe('install webhooks --map', () => {
  let t: TempProject;

  test('puts the triggers on the user\'s tables and stores the setting', () => {
    t = copyFixture('chat');
    cleanups.push(() => t.cleanup());
    const r = install({ projectDir: t.dir, catalog: suiteCatalog(), plugins: ['webhooks'], options: [{ name: 'map', value: MAP }] });
    expect(r).toBeDefined();
    const channels = YAML.parse(readFileSync(join(t.dir, 'metadata/databases/default/tables/public_channels.yaml'), 'utf8'));
    const trigger = channels.event_triggers.find((e: { name: string }) => e.name === 'webhooks_map_channels');
    expect(trigger).toMatchObject({ definition: { insert: { columns: '*' }, update: { columns: '*' } }, webhook: '{{NSELF_PLUGINS_URL}}/events/webhooks/map_row' });
    expect(readFileSync(join(t.root, '.env'), 'utf8')).toContain(`WEBHOOKS_MAP="${MAP}"`);
  });

  test('a write on a mapped table is emitted, signed and delivered once', async () => {
    const db = await createScratchDatabase('webhooks_map');
    cleanups.push(() => db.drop());
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined); // the scratch database is dropped WITH (FORCE)
    cleanups.push(() => pool.end());
    await pool.query(readFileSync(join(fixturesDir, 'projects/chat/migrations/default/1700000000000_init/up.sql'), 'utf8'));
    const SECRET = 'webhooks-map-secret-0123456789abcdef';
    const runtime = await createRuntime({
      DATABASE_URL: db.url,
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: 'silent',
      JOBS_DIR: '/nonexistent-app-jobs',
      JOBS_DASHBOARD_ENABLED: 'false',
      DATABASE_POOL_MAX: '5',
      QUEUE_DB_POOL_MAX: '3',
      JOBS_QUEUES: 'webhooks.deliver',
      WEBHOOKS_SSRF_ALLOW: '127.0.0.1/32',
      WEBHOOKS_MAP: MAP,
    });
    const server = createServer(runtime);
    const { url } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.shutdown('test done'));
    const harness = await createHasuraHarness({
      databaseUrl: db.url,
      metadataDir: join(t.dir, 'metadata'),
      env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, CHAT_FUNCTIONS_URL: 'http://127.0.0.1:9', CHAT_EVENT_SECRET: 'x', CHAT_DATABASE_URL: db.url },
      events: { fetchIntervalMs: 50 },
    });
    cleanups.push(() => harness.close());
    const rcv = await new Receiver().start();
    cleanups.push(() => rcv.stop());

    // The mapped types are in the catalogue from the start.
    const types = (await pool.query(`select name, source from webhooks.event_type where source = 'map' order by name`)).rows;
    expect(types).toEqual([{ name: 'channel.created', source: 'map' }, { name: 'channel.updated', source: 'map' }, { name: 'user.deleted', source: 'map' }]);
    const c = await harness.graphql(`mutation ($url: String!) { webhooksCreateEndpoint(url: $url, eventTypes: ["channel.created", "user.deleted"]) { secret } }`, { url: `${rcv.url}/in` }, { role: 'user', userId: 'owner-1' });
    expect(c.errors).toBeUndefined();
    rcv.keys.push((c.data as any).webhooksCreateEndpoint.secret);

    const ch = await pool.query<{ id: string }>(`insert into public.channels (name) values ('general') returning id`);
    const user = await pool.query<{ id: string }>(`insert into public.users (display_name) values ('Ada') returning id`);
    await pool.query(`update public.channels set topic = 'news'`);
    await pool.query('delete from public.users where id = $1', [user.rows[0]!.id]);
    await harness.drain();
    await waitFor(() => rcv.received.length === 2, 15_000, 'two deliveries');
    const bodies = rcv.received.map((r) => JSON.parse(r.body)).sort((a, b) => a.type.localeCompare(b.type));
    expect(bodies.map((b) => [b.type, b.data.id])).toEqual([
      ['channel.created', ch.rows[0]!.id],
      ['user.deleted', user.rows[0]!.id],
    ]);
    expect(bodies[0].data.name).toBe('general');
    expect(rcv.verified()).toHaveLength(2);
    // channel.updated was emitted too (no endpoint takes it).
    expect((await pool.query(`select count(*)::int as n from webhooks.message where event_type = 'channel.updated'`)).rows[0].n).toBe(1);

    // Hasura delivers at least once: a redelivered row change emits nothing new.
    const [created] = (await harness.eventLog('webhooks_map_channels')).filter((e) => (e.payload as any).op === 'INSERT');
    await harness.redeliverEvent(created!.id);
    await harness.drain();
    await new Promise((r) => setTimeout(r, 500));
    expect((await pool.query(`select count(*)::int as n from webhooks.message where event_type = 'channel.created'`)).rows[0].n).toBe(1);
    expect(rcv.received).toHaveLength(2);
    const m = (await pool.query(`select id from webhooks.message where event_type = 'channel.created'`)).rows[0];
    expect(rcv.received.some((r) => r.headers['webhook-id'] === msgIdOf(m.id))).toBe(true);
  }, 90_000);
});
