/**
 * Reading Hasura v3 metadata directories (`!include` resolution) and refusing inconsistent metadata the way
 * Hasura reports it: every problem named, nothing half-installed.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { createHasuraHarness, HarnessConfigError, readMetadataDir } from '../../src/testing/index.js';
import { FIXTURE_METADATA } from './support/schema.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'harness-meta-'));
  cpSync(FIXTURE_METADATA, tmp, { recursive: true });
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const OFFLINE = 'postgres://nobody@127.0.0.1:1/none';

describe('readMetadataDir', () => {
  it('resolves nested !include strings relative to the including file', () => {
    const m = readMetadataDir(FIXTURE_METADATA);
    expect(m.sources.map((s) => s.name)).toEqual(['default']);
    const tables = m.sources[0]!.tables;
    expect(tables.map((t) => `${t.table.schema}.${t.table.name}`)).toEqual([
      'public.users',
      'public.rooms',
      'public.room_members',
      'public.messages',
      'public.bans',
      'public.audit',
      'chat.reactions',
    ]);
    expect(tables[3]!.event_triggers!.map((e) => e.name)).toEqual(['message_created', 'message_edited', 'message_deleted', 'message_manual']);
    expect(m.actions.map((a) => a.name)).toContain('sendMessage');
    expect(m.actionsSdl).toContain('sendMessage(roomId: Int!');
    expect(m.cronTriggers.map((c) => c.name)).toEqual(['nightly_digest', 'every_five']);
    expect(m.inheritedRoles).toEqual([{ role_name: 'member', role_set: ['viewer'] }]);
  });

  it('refuses a directory that is not v3, corrupt YAML, missing includes and include cycles, naming the file', () => {
    writeFileSync(join(tmp, 'version.yaml'), 'version: 2\n');
    expect(() => readMetadataDir(tmp)).toThrow(/not a Hasura v3 metadata directory/);
    writeFileSync(join(tmp, 'version.yaml'), 'version: 3\n');

    writeFileSync(join(tmp, 'databases/default/tables/public_bans.yaml'), 'table: [unclosed\n');
    expect(() => readMetadataDir(tmp)).toThrow(/invalid YAML in .*public_bans\.yaml/);

    writeFileSync(join(tmp, 'databases/default/tables/tables.yaml'), '- "!include public_gone.yaml"\n');
    expect(() => readMetadataDir(tmp)).toThrow(/cannot read metadata file .*public_gone\.yaml/);

    writeFileSync(join(tmp, 'databases/default/tables/tables.yaml'), '- "!include loop.yaml"\n');
    writeFileSync(join(tmp, 'databases/default/tables/loop.yaml'), '"!include tables.yaml"\n');
    expect(() => readMetadataDir(tmp)).toThrow(/!include cycle/);
  });
});

describe('inconsistent metadata', () => {
  it('lists every unresolved {{ENV}} template and value_from_env header before touching the database', async () => {
    const err = await createHasuraHarness({ databaseUrl: OFFLINE, metadataDir: FIXTURE_METADATA, env: {} }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(HarnessConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain("event trigger message_created: environment variable 'NSELF_PLUGINS_URL' not set");
    expect(msg).toContain("event trigger message_manual: environment variable 'MANUAL_HOOK_URL' not set");
    expect(msg).toContain("cron trigger nightly_digest: environment variable 'NSELF_PLUGINS_URL' not set");

    const err2 = await createHasuraHarness({ databaseUrl: OFFLINE, metadataDir: FIXTURE_METADATA, handlerBaseUrl: 'http://x', env: { MANUAL_HOOK_URL: 'http://x' } }).catch((e: Error) => e);
    expect((err2 as Error).message).toContain("event trigger message_created: header x-nself-plugins-secret: environment variable 'HOOK_SECRET' not set");
  });

  it('rejects actions whose SDL and actions.yaml disagree, and bad cron schedules', async () => {
    writeFileSync(join(tmp, 'actions.graphql'), 'type Query { orphan: Int }\n');
    writeFileSync(join(tmp, 'cron_triggers.yaml'), '- name: bad\n  webhook: http://x\n  schedule: "* * * * * *"\n');
    const err = await createHasuraHarness({ databaseUrl: OFFLINE, metadataDir: tmp, handlerBaseUrl: 'http://x', env: { HOOK_SECRET: 's', MANUAL_HOOK_URL: 'http://x' } }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/schedule "\* \* \* \* \* \*" must have exactly 5 fields/);

    writeFileSync(join(tmp, 'cron_triggers.yaml'), '[]\n');
    writeFileSync(join(tmp, 'actions.yaml'), readFileSync(join(tmp, 'actions.yaml'), 'utf8').replace("forward_client_headers: true", "forward_client_headers: true\n      request_transform: {version: 2, template_engine: Kriti, body: {action: remove}}"));
    const err2 = await createHasuraHarness({ databaseUrl: OFFLINE, metadataDir: tmp, handlerBaseUrl: 'http://x', env: { HOOK_SECRET: 's', MANUAL_HOOK_URL: 'http://x' } }).catch((e: Error) => e);
    expect(err2).toBeInstanceOf(HarnessConfigError);
    expect((err2 as Error).message).toContain('action sendMessage: no field "sendMessage" in type Query or Mutation of actions.graphql');
    expect((err2 as Error).message).toContain('actions.graphql field "orphan" has no action in actions.yaml');
    expect((err2 as Error).message).toContain('action sendMessage: request/response transforms are not supported by the harness');
  });

  it('rejects triggers on missing tables or columns and installs nothing', async () => {
    const db: ScratchDatabase = await createScratchDatabase('harness_meta2');
    try {
      await createTables(db, `CREATE TABLE messages (id bigserial PRIMARY KEY, room_id int, author_id int, edited boolean);`);
      const err = await createHasuraHarness({ databaseUrl: db.url, metadataDir: FIXTURE_METADATA, handlerBaseUrl: 'http://x', env: { HOOK_SECRET: 's', MANUAL_HOOK_URL: 'http://x' } }).catch((e: Error) => e);
      const msg = (err as Error).message;
      expect(msg).toContain('event trigger room_created: table "public"."rooms" does not exist');
      expect(msg).toContain('event trigger message_edited (update): column "body" does not exist');
      expect(msg).toContain('event trigger reaction_added: table "chat"."reactions" does not exist');
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const n = await c.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'hdb_catalog'`);
      await c.end();
      expect(n.rows[0].n).toBe(0);
    } finally {
      await db.drop();
    }
  });
});

async function createTables(db: ScratchDatabase, sql: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
