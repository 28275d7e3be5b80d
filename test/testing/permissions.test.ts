/**
 * Permissions compiled from the fixture metadata: row filters through relationships (foreign-key and manual),
 * `_exists`, session variables, column lists, insert checks, and loud failure on what the harness cannot evaluate.
 */
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { createHasuraHarness, HarnessUnsupportedError, HasuraError, type HasuraHarness } from '../../src/testing/index.js';
import { createFixtureSchema, FIXTURE_METADATA } from './support/schema.js';

let db: ScratchDatabase;
let h: HasuraHarness;

const MESSAGES = { schema: 'public', name: 'messages' };
const ROOMS = { schema: 'public', name: 'rooms' };
const REACTIONS = { schema: 'chat', name: 'reactions' };
const as = (userId: number | string) => ({ role: 'user', userId });
const bodies = (rows: Record<string, unknown>[]) => rows.map((r) => r.body).sort();

beforeAll(async () => {
  db = await createScratchDatabase('harness_perms');
  await createFixtureSchema(db.url);
  h = await createHasuraHarness({ databaseUrl: db.url, metadataDir: FIXTURE_METADATA, handlerBaseUrl: 'http://127.0.0.1:9', env: { HOOK_SECRET: 's', MANUAL_HOOK_URL: 'http://127.0.0.1:9' }, autoStart: false });
  await h.pool.query(`
    INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'carl');
    INSERT INTO rooms (id, name, owner_id, is_public) VALUES (1, 'general', 1, true), (2, 'ann-private', 1, false), (3, 'bob-private', 2, false);
    INSERT INTO room_members (room_id, user_id) VALUES (1, 1), (2, 1), (1, 2), (3, 2), (1, 3);
    INSERT INTO messages (id, room_id, author_id, body, meta) VALUES
      (1, 1, 1, 'general hi', '{"x":1}'), (2, 2, 1, 'ann secret', null), (3, 3, 2, 'bob secret', null), (4, 1, 2, 'general bob', null);
    INSERT INTO chat.reactions (message_id, emoji) VALUES (2, 'a'), (3, 'b');
    INSERT INTO bans (user_id) VALUES (3);
    SELECT setval('messages_id_seq', 100), setval('rooms_id_seq', 100);
  `);
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

describe('select', () => {
  it('user A cannot read user B\'s rows: filters through an object and an array relationship', async () => {
    expect(bodies(await h.select('user', as(1), MESSAGES))).toEqual(['ann secret', 'general bob', 'general hi']);
    expect(bodies(await h.select('user', { userId: 2 }, MESSAGES))).toEqual(['bob secret', 'general bob', 'general hi']);
  });

  it('returns only the permitted columns, as JSON like Hasura\'s', async () => {
    const [row] = await h.select('user', as(1), MESSAGES, { id: { _eq: 1 } });
    expect(Object.keys(row!)).toEqual(['id', 'room_id', 'author_id', 'body', 'created_at']);
    expect(row!.id).toBe(1);
    expect(row!.created_at).toMatch(/\+00:00$/);
  });

  it('_or with an array relationship', async () => {
    const names = async (u: number) => (await h.select('user', as(u), ROOMS)).map((r) => r.name).sort();
    expect(await names(1)).toEqual(['ann-private', 'general']);
    expect(await names(2)).toEqual(['bob-private', 'general']);
    expect(await names(3)).toEqual(['general']);
  });

  it('_not + _exists: a banned user sees no message even in a room they belong to', async () => {
    expect(await h.select('user', as(3), MESSAGES)).toEqual([]);
    await h.pool.query(`DELETE FROM bans WHERE user_id = 3`);
    expect(bodies(await h.select('user', as(3), MESSAGES))).toEqual(['general bob', 'general hi']);
    await h.pool.query(`INSERT INTO bans (user_id) VALUES (3)`);
  });

  it('a manual_configuration relationship chained through two foreign-key relationships (other schema)', async () => {
    expect((await h.select('user', as(1), REACTIONS)).map((r) => r.emoji)).toEqual(['a']);
    expect((await h.select('user', as(2), REACTIONS)).map((r) => r.emoji)).toEqual(['b']);
  });

  it('a role without a select permission sees nothing; admin sees every row and column', async () => {
    expect(await h.select('viewer', { role: 'viewer', userId: 1 }, MESSAGES)).toEqual([]);
    expect(await h.hasSelectPermission('viewer', MESSAGES)).toBe(false);
    expect(await h.hasSelectPermission('user', MESSAGES)).toBe(true);
    const all = await h.select('admin', null, MESSAGES, undefined, { orderBy: ['id'] });
    expect(all.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(all[0]).toMatchObject({ meta: { x: 1 }, edited: false });
  });

  it('a caller\'s where narrows the permission and can only use permitted columns', async () => {
    expect(bodies(await h.select('user', as(1), MESSAGES, { body: { _like: 'general%' } }))).toEqual(['general bob', 'general hi']);
    await expect(h.select('user', as(1), MESSAGES, { meta: { _is_null: true } })).rejects.toThrow(new HasuraError(`field "meta" not found in type: 'messages_bool_exp'`, 'validation-failed'));
    // through a relationship the target's permission applies too; a literal "X-Hasura-User-Id" is just a string
    expect(bodies(await h.select('user', as(1), MESSAGES, { author: { name: { _eq: 'bob' } } }))).toEqual(['general bob']);
    expect(await h.select('user', as(1), MESSAGES, { body: { _eq: 'X-Hasura-User-Id' } })).toEqual([]);
  });

  it('column operators', async () => {
    const ids = async (where: Record<string, unknown>) => (await h.select('admin', null, MESSAGES, where, { orderBy: ['id'] })).map((r) => r.id);
    expect(await ids({ id: { _neq: 1 } })).toEqual([2, 3, 4]);
    expect(await ids({ id: { _gt: 1, _lte: 3 } })).toEqual([2, 3]);
    expect(await ids({ id: { _gte: 3 } })).toEqual([3, 4]);
    expect(await ids({ id: { _lt: 2 } })).toEqual([1]);
    expect(await ids({ id: { _in: [1, 4] } })).toEqual([1, 4]);
    expect(await ids({ id: { _nin: [1, 4] } })).toEqual([2, 3]);
    expect(await ids({ id: { _in: [] } })).toEqual([]);
    expect(await ids({ id: { _nin: [] } })).toEqual([1, 2, 3, 4]);
    expect(await ids({ meta: { _is_null: false } })).toEqual([1]);
    expect(await ids({ meta: { _eq: { x: 1 } } })).toEqual([1]);
    expect(await ids({ body: { _ilike: 'GENERAL%' } })).toEqual([1, 4]);
    expect(await ids({ _and: [{ room_id: { _eq: 1 } }, { author_id: { _eq: 2 } }] })).toEqual([4]);
    expect(await ids({ _or: [] })).toEqual([]);
    expect(await ids({ _and: [] })).toEqual([1, 2, 3, 4]);
    expect(await ids({ _not: { room_id: { _eq: 1 } } })).toEqual([2, 3]);
    expect(await ids({ _exists: { _table: { schema: 'public', name: 'bans' }, _where: { user_id: { _eq: 99 } } } })).toEqual([]);
    expect(await ids({ room: { is_public: { _eq: false } } })).toEqual([2, 3]);
  });

  it('session values are parameters, never SQL', async () => {
    await expect(h.select('user', as('1) OR (1=1'), MESSAGES)).rejects.toThrow(/invalid input syntax for type integer/);
  });

  it('fails loudly on what it cannot evaluate', async () => {
    await expect(h.select('user', as(1), { schema: 'public', name: 'audit' })).rejects.toThrow(HarnessUnsupportedError);
    await expect(h.select('user', as(1), { schema: 'public', name: 'audit' })).rejects.toThrow('column operator "_contains" is not supported by the harness');
    await expect(h.select('admin', null, MESSAGES, { id: { _similar: '1' } })).rejects.toThrow(HarnessUnsupportedError);
    await expect(h.select('admin', null, MESSAGES, { _nonsense: {} })).rejects.toThrow(HarnessUnsupportedError);
    await expect(h.select('admin', null, MESSAGES, { id: { _eq: null } })).rejects.toThrow(HarnessUnsupportedError);
    await expect(h.select('admin', null, MESSAGES, { nope: { _eq: 1 } })).rejects.toThrow(`field "nope" not found in type: 'messages_bool_exp'`);
    await expect(h.select('user', { role: 'user' }, MESSAGES)).rejects.toThrow(new HasuraError('missing session variable: "x-hasura-user-id"', 'not-found'));
    await expect(h.select('member', { role: 'member' }, MESSAGES)).rejects.toThrow(HarnessUnsupportedError);
    await expect(h.select('user', as(1), { schema: 'public', name: 'untracked' })).rejects.toThrow(/not tracked/);
  });
});

describe('insertAllowed', () => {
  const count = async () => Number((await h.pool.query(`SELECT count(*) FROM messages`)).rows[0].count);

  it('applies the check to the inserted row (with the preset author) and writes nothing', async () => {
    const before = await count();
    expect(await h.insertAllowed('user', as(1), MESSAGES, { room_id: 2, body: 'ok' })).toEqual({ allowed: true });
    expect(await h.insertAllowed('user', as(1), MESSAGES, { room_id: 3, body: 'not a member' })).toEqual({
      allowed: false,
      reason: 'check constraint of an insert/update permission has failed',
    });
    expect(await count()).toBe(before);
  });

  it('rejects columns outside the permission, preset columns included', async () => {
    expect(await h.insertAllowed('user', as(1), MESSAGES, { room_id: 2, body: 'x', author_id: 2 })).toEqual({
      allowed: false,
      reason: `field "author_id" not found in type: 'messages_insert_input'`,
    });
    expect((await h.insertAllowed('user', as(1), MESSAGES, { room_id: 2, body: 'x', edited: true })).allowed).toBe(false);
  });

  it('a role without an insert permission cannot insert; admin can', async () => {
    expect(await h.insertAllowed('viewer', { role: 'viewer' }, MESSAGES, { room_id: 2, body: 'x' })).toEqual({
      allowed: false,
      reason: `field "insert_messages" not found in type: 'mutation_root'`,
    });
    expect(await h.insertAllowed('admin', null, MESSAGES, { room_id: 3, author_id: 2, body: 'x' })).toEqual({ allowed: true });
  });
});
