/**
 * Tracked SQL functions (`sources[].functions`): query fields with `args` and the usual select arguments, the
 * aggregate field, a session argument, a function exposed as a mutation, and the returned table's select
 * permission applied to their rows.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { asUser, chatMetadata, startChat, type ChatFixture } from './support/fixture.js';

const FUNCTIONS_SQL = `
CREATE FUNCTION search_messages(q text, min_likes int DEFAULT 0) RETURNS SETOF messages LANGUAGE sql STABLE AS $$
  SELECT * FROM messages WHERE body ILIKE '%' || q || '%' AND likes >= min_likes $$;
CREATE FUNCTION my_messages(hasura_session json) RETURNS SETOF messages LANGUAGE sql STABLE AS $$
  SELECT * FROM messages WHERE author_id = hasura_session ->> 'x-hasura-user-id' $$;
CREATE FUNCTION like_message(message_id int) RETURNS SETOF messages LANGUAGE sql VOLATILE AS $$
  UPDATE messages SET likes = likes + 1 WHERE id = message_id RETURNING * $$;
CREATE FUNCTION room_count() RETURNS SETOF rooms LANGUAGE sql STABLE AS $$ SELECT * FROM rooms $$;
`;

function metadata(): Record<string, unknown> {
  const meta = chatMetadata() as any;
  meta.sources[0].functions = [
    { function: { schema: 'public', name: 'search_messages' } },
    { function: { schema: 'public', name: 'my_messages' }, configuration: { session_argument: 'hasura_session', custom_name: 'mine' } },
    { function: { schema: 'public', name: 'like_message' }, configuration: { exposed_as: 'mutation' }, permissions: [{ role: 'user' }] },
    { function: { schema: 'public', name: 'room_count' }, permissions: [{ role: 'somebody_else' }] },
  ];
  return meta;
}

let g: ChatFixture;
beforeAll(async () => {
  g = await startChat('dev_functions', {}, metadata(), FUNCTIONS_SQL);
});
afterAll(async () => {
  await g?.close();
});

describe('tracked functions', () => {
  it('serves a function with args, where, order_by and its aggregate, under the returned table permission', async () => {
    const all = await g.gql(`{ search_messages(args: {q: "h"}, order_by: {id: asc}) { id } }`);
    expect(all.data!.search_messages.map((m: { id: number }) => m.id)).toEqual([1, 2]);
    const filtered = await g.gql(`{ search_messages(args: {q: "h", min_likes: 3}, where: {author_id: {_eq: "u2"}}) { body } }`);
    expect(filtered.data!.search_messages).toEqual([{ body: 'hi ann' }]);
    const agg = await g.gql(`{ search_messages_aggregate(args: {q: "h"}) { aggregate { count sum { likes } } } }`);
    expect(agg.data!.search_messages_aggregate.aggregate).toEqual({ count: 2, sum: { likes: 8 } });
    const asU3 = await g.gql(`{ search_messages(args: {q: "h"}) { id } }`, undefined, asUser('u3'));
    expect(asU3.data!.search_messages).toEqual([]);
    const missing = await g.gql(`{ search_messages(args: {}) { id } }`);
    expect(missing.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
  });

  it('passes the session to a session argument and hides it from args', async () => {
    const r = await g.gql(`{ mine(order_by: {id: asc}) { id author_id } }`, undefined, asUser('u2'));
    expect(r.data!.mine).toEqual([{ id: 2, author_id: 'u2' }, { id: 4, author_id: 'u2' }]);
    const u1 = await g.gql(`{ mine { id } }`, undefined, asUser('u1'));
    expect(u1.data!.mine.map((m: { id: number }) => m.id).sort()).toEqual([1, 3]);
  });

  it('runs a function exposed as a mutation in the mutation transaction', async () => {
    const r = await g.gql(`mutation { like_message(args: {message_id: 1}) { id likes } }`, undefined, asUser('u1'));
    expect(r.data!.like_message).toEqual([{ id: 1, likes: 4 }]);
    const q = await g.gql(`{ like_message(args: {message_id: 1}) { id } }`, undefined, asUser('u1'));
    expect(q.errors![0]).toMatchObject({ message: `field "like_message" not found in type: 'query_root'` });
  });

  it('limits a function to the roles of its permissions', async () => {
    const hidden = await g.gql(`{ room_count { id } }`, undefined, asUser('u1'));
    expect(hidden.errors![0]).toMatchObject({ message: `field "room_count" not found in type: 'query_root'`, extensions: { code: 'validation-failed' } });
    const admin = await g.gql(`{ room_count { id } }`);
    expect(admin.data!.room_count).toHaveLength(3);
  });
});

describe('remote schemas', () => {
  it('are listed as not served, and their namespace field is refused by name', async () => {
    const meta = metadata() as any;
    meta.remote_schemas = [{ name: 'payments', definition: { url: 'http://127.0.0.1:9/graphql', customization: { root_fields_namespace: 'payments' } } }];
    const h = await startChat('dev_remote', {}, meta, FUNCTIONS_SQL);
    try {
      expect(h.endpoint.unsupported).toContain('remote schema "payments" (customizations (namespaces, type and field renames) are not supported by nself-plugins dev)');
      const r = await h.gql(`{ payments { total } }`);
      expect(r.errors![0]).toEqual({ message: 'not supported by nself-plugins dev: field "payments" belongs to remote schema "payments", which is not served', extensions: { path: '$.selectionSet.payments', code: 'not-supported' } });
    } finally {
      await h.close();
    }
  });
});
