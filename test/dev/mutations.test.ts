/**
 * Mutations through /v1/graphql under insert/update/delete permissions (columns, presets, checks, filters),
 * upserts, Hasura's error codes, one transaction per request, and the session reaching event triggers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { asUser, chatMetadata, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
let hook: http.Server;
const events: any[] = [];

beforeAll(async () => {
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      events.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const meta = chatMetadata() as any;
  meta.sources[0].tables[3].event_triggers = [
    { name: 'message_changed', definition: { insert: { columns: '*' }, update: { columns: ['body'] } }, retry_conf: { num_retries: 0, interval_sec: 1, timeout_sec: 5 }, webhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
  ];
  f = await startChat('dev_mutations', { harness: { events: { fetchIntervalMs: 50 } } }, meta);
});
afterAll(async () => {
  await f?.close();
  await new Promise<void>((r) => hook.close(() => r()));
});

const count = async (sql: string, params: unknown[] = []) => Number((await f.pool.query(sql, params)).rows[0].n);

describe('insert', () => {
  it('inserts with the preset from the session and returns under the select permission', async () => {
    const r = await f.gql(`mutation { insert_messages(objects: [{room_id: 1, body: "from gql"}, {room_id: 2, body: "second"}]) { affected_rows returning { room_id author_id body likes } } }`, undefined, asUser('u1'));
    expect(r).toEqual({ data: { insert_messages: { affected_rows: 2, returning: [{ room_id: 1, author_id: 'u1', body: 'from gql', likes: 0 }, { room_id: 2, author_id: 'u1', body: 'second', likes: 0 }] } } });
    const one = await f.gql(`mutation ($o: messages_insert_input!) { insert_messages_one(object: $o) { id author { name } room { name } } }`, { o: { room_id: 1, body: 'one', meta: { k: [1, 2] } } }, asUser('u2'));
    expect(one.data!.insert_messages_one).toMatchObject({ author: { name: 'Bob' }, room: { name: 'general' } });
    expect((await f.pool.query('SELECT meta FROM messages WHERE id = $1', [one.data!.insert_messages_one.id])).rows[0].meta).toEqual({ k: [1, 2] });
  });

  it('refuses columns outside the permission, including the preset one', async () => {
    const r = await f.gql(`mutation { insert_messages(objects: [{room_id: 1, body: "x", author_id: "u2"}]) { affected_rows } }`, undefined, asUser('u1'));
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    expect(r.errors![0]!.message).toContain('author_id');
  });

  it('rejects a row failing the check with permission-error and writes nothing', async () => {
    const before = await count('SELECT count(*) AS n FROM messages');
    const r = await f.gql(`mutation { a: insert_messages_one(object: {room_id: 1, body: "ok"}) { id } b: insert_messages_one(object: {room_id: 3, body: "not my room"}) { id } }`, undefined, asUser('u1'));
    expect(r).toEqual({ errors: [{ message: 'check constraint of an insert/update permission has failed', extensions: { path: '$', code: 'permission-error' } }] });
    expect(await count('SELECT count(*) AS n FROM messages')).toBe(before);
  });

  it('reports database constraint violations with Hasura messages and codes', async () => {
    const fk = await f.gql(`mutation { insert_messages_one(object: {room_id: 999, body: "x", author_id: "u1"}) { id } }`);
    expect(fk.errors![0]!.message).toMatch(/^Foreign key violation\. insert or update on table "messages" violates foreign key constraint/);
    expect(fk.errors![0]!.extensions).toMatchObject({ code: 'constraint-violation' });
    const check = await f.gql(`mutation ($b: String!) { insert_messages_one(object: {room_id: 1, body: $b, author_id: "u1"}) { id } }`, { b: 'x'.repeat(300) });
    expect(check.errors![0]!.message).toMatch(/^Check constraint violation\./);
    expect(check.errors![0]!.extensions).toMatchObject({ code: 'permission-error' });
    const notNull = await f.gql(`mutation { insert_users_one(object: {id: "u9"}) { id } }`);
    expect(notNull.errors![0]!.message).toMatch(/^Not-NULL violation\./);
    const badUuid = await f.gql(`mutation { insert_messages_one(object: {room_id: 1, body: "x", author_id: "u1", created_at: "2030-02-30T00:00:00Z"}) { id } }`);
    expect(badUuid.errors![0]!.extensions).toMatchObject({ code: 'data-exception' });
  });

  it('upserts with on_conflict: update columns, do nothing, and the unique violation without it', async () => {
    const dup = await f.gql(`mutation { insert_rooms_one(object: {name: "general"}) { id } }`);
    expect(dup.errors![0]!.message).toMatch(/^Uniqueness violation\. duplicate key value violates unique constraint "rooms_name_key"/);
    expect(dup.errors![0]!.extensions).toMatchObject({ code: 'constraint-violation' });
    const up = await f.gql(`mutation { insert_rooms_one(object: {name: "general", is_public: false}, on_conflict: {constraint: rooms_name_key, update_columns: [is_public]}) { id name is_public } }`);
    expect(up.data!.insert_rooms_one).toEqual({ id: 1, name: 'general', is_public: false });
    const nothing = await f.gql(`mutation { insert_rooms(objects: [{name: "general"}, {name: "fresh"}], on_conflict: {constraint: rooms_name_key, update_columns: []}) { affected_rows returning { name } } }`);
    expect(nothing.data!.insert_rooms).toEqual({ affected_rows: 1, returning: [{ name: 'fresh' }] });
    const guarded = await f.gql(`mutation { insert_rooms_one(object: {name: "general", is_public: true}, on_conflict: {constraint: rooms_name_key, update_columns: [is_public], where: {is_public: {_eq: true}}}) { id } }`);
    expect(guarded.data!.insert_rooms_one).toBeNull();
    await f.pool.query(`UPDATE rooms SET is_public = true WHERE id = 1`);
  });

  it('keeps on_conflict away from roles without an update permission and refuses nested inserts by name', async () => {
    const r = await f.gql(`mutation { addNote(object: {text: "x"}, on_conflict: {constraint: notes_pkey, update_columns: []}) { id } }`, undefined, asUser('u1'));
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const ok = await f.gql(`mutation { addNote(object: {text: "buy bread", tags: ["x"]}) { text tags } }`, undefined, asUser('u1'));
    expect(ok).toEqual({ data: { addNote: { text: 'buy bread', tags: ['x'] } } });
    const nested = await f.gql(`mutation { insert_messages_one(object: {body: "x", author_id: "u1", room: {data: {name: "n"}}}) { id } }`);
    expect(nested.errors![0]).toMatchObject({ extensions: { code: 'not-supported' } });
    expect(nested.errors![0]!.message).toContain('nested inserts through relationship "room"');
  });
});

describe('update and delete', () => {
  it('updates only the role filter rows, with _set and _inc, and returns affected rows', async () => {
    const mine = await f.gql(`mutation { update_messages(where: {room_id: {_eq: 1}}, _set: {body: "edited"}, _inc: {likes: 10}) { affected_rows returning { id author_id body likes } } }`, undefined, asUser('u2'));
    expect(mine.data!.update_messages.affected_rows).toBeGreaterThanOrEqual(1);
    for (const m of mine.data!.update_messages.returning) expect(m).toMatchObject({ author_id: 'u2', body: 'edited' });
    const others = await f.gql(`mutation { update_messages_by_pk(pk_columns: {id: 1}, _set: {body: "hijack"}) { id } }`, undefined, asUser('u2'));
    expect(others).toEqual({ data: { update_messages_by_pk: null } });
    expect((await f.pool.query('SELECT body FROM messages WHERE id = 1')).rows[0].body).toBe('hello all');
  });

  it('rejects an update failing the post-update check and rolls it back', async () => {
    const r = await f.gql(`mutation { update_messages_by_pk(pk_columns: {id: 1}, _set: {body: "this is Forbidden"}) { id } }`, undefined, asUser('u1'));
    expect(r.errors![0]).toEqual({ message: 'check constraint of an insert/update permission has failed', extensions: { path: '$', code: 'permission-error' } });
    expect((await f.pool.query('SELECT body FROM messages WHERE id = 1')).rows[0].body).toBe('hello all');
  });

  it('refuses a column in two operators, no operator at all, and columns outside the permission', async () => {
    const two = await f.gql(`mutation { update_messages(where: {}, _set: {likes: 1}, _inc: {likes: 1}) { affected_rows } }`, undefined, asUser('u1'));
    expect(two.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const none = await f.gql(`mutation { update_messages(where: {}) { affected_rows } }`, undefined, asUser('u1'));
    expect(none.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const col = await f.gql(`mutation { update_messages(where: {}, _set: {room_id: 2}) { affected_rows } }`, undefined, asUser('u1'));
    expect(col.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
  });

  it('updates jsonb with _append and _delete_key, and runs update_many in order', async () => {
    const r = await f.gql(`mutation { update_messages_by_pk(pk_columns: {id: 1}, _append: {meta: {extra: true}}) { meta } }`);
    expect(r.data!.update_messages_by_pk.meta).toEqual({ lang: 'en', tags: ['a'], extra: true });
    const d = await f.gql(`mutation { update_messages_by_pk(pk_columns: {id: 1}, _delete_key: {meta: "extra"}) { meta } }`);
    expect(d.data!.update_messages_by_pk.meta).toEqual({ lang: 'en', tags: ['a'] });
    const many = await f.gql(`mutation { update_messages_many(updates: [{where: {id: {_eq: 4}}, _set: {likes: 7}}, {where: {id: {_eq: 4}}, _inc: {likes: 1}}]) { affected_rows returning { likes } } }`);
    expect(many.data!.update_messages_many).toEqual([{ affected_rows: 1, returning: [{ likes: 7 }] }, { affected_rows: 1, returning: [{ likes: 8 }] }]);
  });

  it('deletes only rows the delete permission allows', async () => {
    const ins = await f.gql(`mutation { insert_messages_one(object: {room_id: 1, body: "temp"}) { id } }`, undefined, asUser('u1'));
    const id = ins.data!.insert_messages_one.id;
    const notMine = await f.gql(`mutation ($id: Int!) { delete_messages_by_pk(id: $id) { id } }`, { id }, asUser('u2'));
    expect(notMine).toEqual({ data: { delete_messages_by_pk: null } });
    const mine = await f.gql(`mutation ($id: Int!) { delete_messages(where: {id: {_eq: $id}}) { affected_rows returning { body } } }`, { id }, asUser('u1'));
    expect(mine).toEqual({ data: { delete_messages: { affected_rows: 1, returning: [{ body: 'temp' }] } } });
    const noPerm = await f.gql(`mutation { delete_users(where: {}) { affected_rows } }`, undefined, asUser('u1'));
    expect(noPerm.errors![0]).toMatchObject({ message: `field "delete_users" not found in type: 'mutation_root'`, extensions: { code: 'validation-failed' } });
  });
});

describe('sessions reach event triggers', () => {
  it('sends the session of the mutation in session_variables, and null for raw SQL', async () => {
    events.length = 0;
    const r = await f.gql(`mutation { insert_messages_one(object: {room_id: 1, body: "event me"}) { id } }`, undefined, asUser('u1'));
    const id = r.data!.insert_messages_one.id;
    await f.pool.query(`INSERT INTO messages (room_id, author_id, body) VALUES (1, 'u2', 'raw sql')`);
    await f.endpoint.harness.drain();
    const mine = events.find((e) => e.event.data.new.id === id);
    expect(mine.event.session_variables).toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' });
    expect(mine.event.op).toBe('INSERT');
    expect(mine.trigger).toEqual({ name: 'message_changed' });
    const raw = events.find((e) => e.event.data.new.body === 'raw sql');
    expect(raw.event.session_variables).toBeNull();
  });
});
