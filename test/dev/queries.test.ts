/**
 * Table queries through /v1/graphql, role by role: Hasura's root fields and arguments, relationships,
 * aggregates, custom names, and what each role may see.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { asUser, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
beforeAll(async () => {
  f = await startChat('dev_queries');
});
afterAll(async () => {
  await f?.close();
});

describe('select as admin', () => {
  it('filters, orders, limits and offsets', async () => {
    const r = await f.gql(`{ messages(where: {likes: {_gte: 1}}, order_by: [{likes: desc}], limit: 2, offset: 1) { id body likes } }`);
    expect(r).toEqual({ data: { messages: [{ id: 1, body: 'hello all', likes: 3 }, { id: 4, body: 'bob only', likes: 1 }] } });
  });

  it('combines _and/_or/_not and text operators', async () => {
    const r = await f.gql(`{ messages(where: {_or: [{body: {_ilike: "HELLO%"}}, {_and: [{likes: {_gt: 4}}, {_not: {body: {_like: "x%"}}}]}]}, order_by: {id: asc}) { id } }`);
    expect(r.data!.messages).toEqual([{ id: 1 }, { id: 2 }]);
    const re = await f.gql(`{ messages(where: {body: {_regex: "^(hi|bob)"}}, order_by: {id: asc}) { id } }`);
    expect(re.data!.messages).toEqual([{ id: 2 }, { id: 4 }]);
    const sim = await f.gql(`{ messages(where: {body: {_similar: "%(self|all)"}}, order_by: {id: asc}) { id } }`);
    expect(sim.data!.messages).toEqual([{ id: 1 }, { id: 3 }]);
    const inn = await f.gql(`query ($ids: [Int!]) { messages(where: {id: {_in: $ids}, meta: {_is_null: false}}, order_by: {id: desc}) { id } }`, { ids: [1, 2, 3] });
    expect(inn.data!.messages).toEqual([{ id: 3 }, { id: 1 }]);
  });

  it('evaluates jsonb operators', async () => {
    const c = await f.gql(`{ messages(where: {meta: {_contains: {lang: "en"}}}) { id } }`);
    expect(c.data!.messages).toEqual([{ id: 1 }]);
    const k = await f.gql(`{ messages(where: {meta: {_has_key: "lang"}}, order_by: {id: asc}) { id } }`);
    expect(k.data!.messages).toEqual([{ id: 1 }, { id: 3 }]);
    const any = await f.gql(`{ rooms(where: {settings: {_has_keys_any: ["n", "zzz"]}}) { name } }`);
    expect(any.data!.rooms).toEqual([{ name: 'general' }]);
    const cast = await f.gql(`{ rooms(where: {settings: {_cast: {String: {_ilike: "%dark%"}}}}) { name } }`);
    expect(cast.errors![0]!.extensions).toMatchObject({ code: 'not-supported' });
    expect(cast.errors![0]!.message).toContain('_cast');
  });

  it('keeps bigint precision and PostgreSQL JSON formats', async () => {
    const r = await f.gql(`{ messages_by_pk(id: 1) { big created_at meta } }`);
    expect(r.data!.messages_by_pk.created_at).toBe('2030-01-01T00:00:00+00:00');
    expect(r.data!.messages_by_pk.meta).toEqual({ lang: 'en', tags: ['a'] });
    const res = await fetch(`${f.url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ messages_by_pk(id: 1) { big } }' }) });
    // PostgreSQL builds the JSON: a bigint keeps all its digits (JSON.parse would round it).
    expect(await res.text()).toMatch(/"big"\s*:\s*9007199254740993\}/);
  });

  it('answers null for a missing primary key and follows relationships both ways', async () => {
    const none = await f.gql(`{ messages_by_pk(id: 999) { id } }`);
    expect(none).toEqual({ data: { messages_by_pk: null } });
    const r = await f.gql(`{ rooms(order_by: {id: asc}, limit: 1) { name messages(order_by: {id: desc}) { body author { name } } members_aggregate { aggregate { count } } } }`);
    expect(r.data!.rooms).toEqual([{ name: 'general', messages: [{ body: 'hi ann', author: { name: 'Bob' } }, { body: 'hello all', author: { name: 'Ann' } }], members_aggregate: { aggregate: { count: 2 } } }]);
  });

  it('aggregates with nodes, distinct counts and column aggregates', async () => {
    const r = await f.gql(`{ messages_aggregate(where: {room_id: {_eq: 1}}) { aggregate { count cnt: count(columns: [author_id], distinct: true) sum { likes } avg { likes } max { created_at body } min { likes } } nodes { id } } }`);
    expect(r.data!.messages_aggregate).toEqual({
      aggregate: { count: 2, cnt: 2, sum: { likes: 8 }, avg: { likes: 4 }, max: { created_at: '2030-01-01T00:01:00+00:00', body: 'hi ann' }, min: { likes: 3 } },
      nodes: [{ id: 1 }, { id: 2 }],
    });
  });

  it('orders by an object relationship and by an array relationship aggregate; distinct_on follows order_by', async () => {
    const byRoom = await f.gql(`{ messages(order_by: [{room: {name: desc}}, {id: asc}]) { id } }`);
    expect(byRoom.data!.messages.map((m: { id: number }) => m.id)).toEqual([3, 1, 2, 4]);
    const byCount = await f.gql(`{ rooms(order_by: {messages_aggregate: {count: desc}, id: asc}) { name } }`);
    expect(byCount.data!.rooms.map((m: { name: string }) => m.name)).toEqual(['general', 'secret', 'bobs']);
    const distinct = await f.gql(`{ messages(distinct_on: [author_id], order_by: [{author_id: asc}, {likes: desc}]) { author_id likes } }`);
    expect(distinct.data!.messages).toEqual([{ author_id: 'u1', likes: 3 }, { author_id: 'u2', likes: 5 }]);
    const bad = await f.gql(`{ messages(distinct_on: [author_id], order_by: [{likes: desc}]) { id } }`);
    expect(bad.errors![0]).toEqual({ message: '"distinct_on" columns must match initial "order_by" columns', extensions: { path: '$', code: 'validation-failed' } });
  });

  it('honours custom names, custom root fields and column_config', async () => {
    const r = await f.gql(`{ allNotes { text tags } notes_by_pk(id: 1) { id text } }`);
    expect(r).toEqual({ data: { allNotes: [{ text: 'remember milk', tags: ['home'] }], notes_by_pk: { id: 1, text: 'remember milk' } } });
    const where = await f.gql(`{ allNotes(where: {text: {_ilike: "%MILK"}}) { id } }`);
    expect(where.data!.allNotes).toEqual([{ id: 1 }]);
    const old = await f.gql(`{ chat_notes { id } }`);
    expect(old.errors![0]).toMatchObject({ message: `field "chat_notes" not found in type: 'query_root'`, extensions: { code: 'validation-failed' } });
  });

  it('answers __typename and introspection with Hasura type names', async () => {
    const r = await f.gql(`{ __typename messages(limit: 1) { __typename } __type(name: "messages_bool_exp") { inputFields { name } } }`);
    expect(r.data!.__typename).toBe('query_root');
    expect(r.data!.messages).toEqual([{ __typename: 'messages' }]);
    const names = r.data!.__type.inputFields.map((x: { name: string }) => x.name);
    expect(names).toEqual(expect.arrayContaining(['_and', '_or', '_not', 'body', 'room', 'author']));
    const cmp = await f.gql(`{ __type(name: "String_comparison_exp") { inputFields { name } } }`);
    expect(cmp.data!.__type.inputFields.map((x: { name: string }) => x.name)).toEqual(
      expect.arrayContaining(['_eq', '_neq', '_gt', '_lt', '_gte', '_lte', '_in', '_nin', '_is_null', '_like', '_ilike', '_nlike', '_nilike', '_similar', '_regex', '_iregex']),
    );
  });

  it('rejects unknown fields, bad arguments and bad documents with Hasura codes', async () => {
    const unknown = await f.gql(`{ messages { id nope } }`);
    expect(unknown.errors![0]).toEqual({ message: `field "nope" not found in type: 'messages'`, extensions: { path: '$.selectionSet.messages.selectionSet.nope', code: 'validation-failed' } });
    const wrongType = await f.gql(`{ messages(limit: "x") { id } }`);
    expect(wrongType.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const parse = await f.gql(`{ messages {`);
    expect(parse.errors![0]).toEqual({ message: 'not a valid graphql query', extensions: { path: '$.query', code: 'validation-failed' } });
    const negative = await f.gql(`{ messages(limit: -1) { id } }`);
    expect(negative.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const nullCmp = await f.gql(`{ messages(where: {id: {_eq: null}}) { id } }`);
    expect(nullCmp.errors![0]!.extensions).toMatchObject({ code: 'not-supported' });
    const sub = await f.gql(`subscription { messages { id } }`);
    expect(sub.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const res = await fetch(`${f.url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'parse-failed' });
  });

  it('answers a batch with an array', async () => {
    const res = await fetch(`${f.url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ query: '{ users_by_pk(id: "u1") { name } }' }, { query: '{ nope }' }]) });
    const body = (await res.json()) as unknown[];
    expect(body[0]).toEqual({ data: { users_by_pk: { name: 'Ann' } } });
    expect(body[1]).toMatchObject({ errors: [{ extensions: { code: 'validation-failed' } }] });
  });
});

describe('select as role user', () => {
  it('reads only rows of rooms the user is a member of, with the permitted columns', async () => {
    const u1 = await f.gql(`{ messages(order_by: {id: asc}) { id body } }`, undefined, asUser('u1'));
    expect(u1.data!.messages).toEqual([{ id: 1, body: 'hello all' }, { id: 2, body: 'hi ann' }, { id: 3, body: 'note to self' }]);
    const u3 = await f.gql(`{ messages { id } }`, undefined, asUser('u3'));
    expect(u3.data!.messages).toEqual([]);
    const other = await f.gql(`{ messages_by_pk(id: 4) { id body } }`, undefined, asUser('u1'));
    expect(other).toEqual({ data: { messages_by_pk: null } });
    const settings = await f.gql(`{ rooms(order_by: {id: asc}) { name } }`, undefined, asUser('u3'));
    expect(settings.data!.rooms).toEqual([{ name: 'general' }]);
  });

  it('does not reach other users rows through relationships or where', async () => {
    const viaRoom = await f.gql(`{ rooms(where: {name: {_eq: "general"}}) { messages { id } members { user_id } } }`, undefined, asUser('u1'));
    expect(viaRoom.data!.rooms).toEqual([{ messages: [{ id: 1 }, { id: 2 }], members: [{ user_id: 'u1' }] }]);
    const probe = await f.gql(`{ rooms(where: {members: {user_id: {_eq: "u2"}}}) { name } }`, undefined, asUser('u1'));
    expect(probe.data!.rooms).toEqual([]);
    const agg = await f.gql(`{ messages_aggregate { aggregate { count sum { likes } } } }`, undefined, asUser('u3'));
    expect(agg.data!.messages_aggregate.aggregate).toEqual({ count: 0, sum: { likes: null } });
  });

  it('does not expose columns, tables or fields outside the permission', async () => {
    const col = await f.gql(`{ room_members { room_id } users { id name } }`, undefined, asUser('u1'));
    expect(col.errors).toBeUndefined();
    const hidden = await f.gql(`{ allNotes { owner } }`, undefined, asUser('u1'));
    expect(hidden.errors![0]).toMatchObject({ message: `field "owner" not found in type: 'notes'`, extensions: { code: 'validation-failed' } });
    const whereHidden = await f.gql(`{ allNotes(where: {owner: {_eq: "u2"}}) { id } }`, undefined, asUser('u1'));
    expect(whereHidden.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const noAgg = await f.gql(`{ users_aggregate { aggregate { count } } }`, undefined, asUser('u1'));
    expect(noAgg.errors![0]).toMatchObject({ message: `field "users_aggregate" not found in type: 'query_root'` });
  });

  it('applies the permission row limit', async () => {
    const meta = structuredClone((await import('./support/fixture.js')).chatMetadata()) as any;
    meta.sources[0].tables[3].select_permissions[0].permission.limit = 1;
    const g = await startChat('dev_limit', {}, meta);
    try {
      const r = await g.gql(`{ messages(order_by: {id: desc}, limit: 5) { id } }`, undefined, asUser('u1'));
      expect(r.data!.messages).toEqual([{ id: 3 }]);
    } finally {
      await g.close();
    }
  });

  it('an unauthorized-style role without permissions sees no field', async () => {
    const r = await f.gql(`{ messages { id } }`, undefined, { 'x-hasura-role': 'nobody' });
    expect(r.errors![0]).toMatchObject({ message: `field "messages" not found in type: 'query_root'`, extensions: { code: 'validation-failed' } });
    const anon = await f.gql(`{ rooms { id name } }`, undefined, { 'x-hasura-role': 'anonymous' });
    expect(anon.data!.rooms).toEqual([{ id: 1, name: 'general' }]);
  });

  it('errors when a permission needs a session variable the request lacks', async () => {
    const r = await f.gql(`{ messages { id } }`, undefined, { 'x-hasura-role': 'user' });
    expect(r.errors![0]).toMatchObject({ message: 'missing session variable: "x-hasura-user-id"', extensions: { code: 'not-found' } });
  });
});

describe('roles the endpoint does not emulate', () => {
  it('refuses an inherited role by name', async () => {
    const meta = (await import('./support/fixture.js')).chatMetadata() as any;
    meta.inherited_roles = [{ role_name: 'staff', role_set: ['user', 'anonymous'] }];
    const g = await startChat('dev_inherited', {}, meta);
    try {
      expect(g.endpoint.unsupported).toContain('inherited role "staff" (requests as it are refused)');
      const r = await g.gql(`{ rooms { id } }`, undefined, { 'x-hasura-role': 'staff' });
      expect(r.errors![0]!.extensions).toMatchObject({ code: 'not-supported' });
      expect(r.errors![0]!.message).toContain('inherited role');
    } finally {
      await g.close();
    }
  });
});
