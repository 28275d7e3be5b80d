/**
 * Bad requests to /v1/graphql get Hasura's clear errors and change nothing: malformed bodies, oversize bodies,
 * wrong methods, wrong variable types, missing arguments, ambiguous operations, replays.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { asUser, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
beforeAll(async () => {
  f = await startChat('dev_bad_input', { bodyLimitBytes: 64 * 1024 });
});
afterAll(async () => {
  await f?.close();
});

const post = (body: string, headers: Record<string, string> = {}) => fetch(`${f.url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const count = async () => Number((await f.pool.query('SELECT count(*) AS n FROM messages')).rows[0].n);

describe('bad input', () => {
  it('refuses an oversize body with 413 and a non-POST with 405', async () => {
    const big = await post(JSON.stringify({ query: `{ messages { id } }`, variables: { pad: 'x'.repeat(70 * 1024) } }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 'payload-too-large' });
    const get = await fetch(`${f.url}/v1/graphql`);
    expect(get.status).toBe(405);
  });

  it('answers parse errors for bodies that are not GraphQL requests', async () => {
    expect(await (await post('{"variables": {}}')).json()).toEqual({ errors: [{ message: 'the key "query" was not present', extensions: { path: '$', code: 'parse-failed' } }] });
    expect((await (await post('"just a string"')).json()) as object).toMatchObject({ errors: [{ extensions: { code: 'parse-failed' } }] });
    const two = await (await post(JSON.stringify({ query: 'query A { users { id } } query B { rooms { id } }' }))).json();
    expect(two).toEqual({ errors: [{ message: 'exactly one operation has to be present in the document when operationName is not specified', extensions: { path: '$', code: 'validation-failed' } }] });
    const named = await (await post(JSON.stringify({ query: 'query A { users { id } }', operationName: 'Z' }))).json();
    expect(named).toEqual({ errors: [{ message: 'no such operation found in the document: "Z"', extensions: { path: '$', code: 'validation-failed' } }] });
  });

  it('refuses wrong variable types, missing required arguments and unknown enum values, writing nothing', async () => {
    const before = await count();
    const wrongVar = await f.gql(`mutation ($o: messages_insert_input!) { insert_messages_one(object: $o) { id } }`, { o: { room_id: 'one', body: 'x' } }, asUser('u1'));
    expect(wrongVar.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const missing = await f.gql(`mutation { insert_messages { affected_rows } }`, undefined, asUser('u1'));
    expect(missing.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const badEnum = await f.gql(`{ messages(order_by: {id: sideways}) { id } }`, undefined, asUser('u1'));
    expect(badEnum.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    const badConstraint = await f.gql(`mutation { insert_rooms_one(object: {name: "z"}, on_conflict: {constraint: no_such_constraint}) { id } }`);
    expect(badConstraint.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    expect(await count()).toBe(before);
  });

  it('a replayed insert is refused by the key, and a replayed upsert is idempotent', async () => {
    const q = `mutation { insert_users_one(object: {id: "u77", name: "Replay"}) { id } }`;
    expect((await f.gql(q)).data).toEqual({ insert_users_one: { id: 'u77' } });
    const again = await f.gql(q);
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'constraint-violation' });
    const up = `mutation { insert_users(objects: [{id: "u78", name: "Once"}], on_conflict: {constraint: users_pkey, update_columns: [name]}) { affected_rows } }`;
    expect((await f.gql(up)).data).toEqual({ insert_users: { affected_rows: 1 } });
    expect((await f.gql(up)).data).toEqual({ insert_users: { affected_rows: 1 } });
    expect(Number((await f.pool.query(`SELECT count(*) AS n FROM users WHERE id = 'u78'`)).rows[0].n)).toBe(1);
  });

  it('keeps hostile strings as values, never SQL', async () => {
    const r = await f.gql(`query ($b: String!) { messages(where: {body: {_eq: $b}}) { id } }`, { b: "x'); DROP TABLE messages; --" });
    expect(r).toEqual({ data: { messages: [] } });
    const sess = await f.gql(`{ messages { id } }`, undefined, { 'x-hasura-role': 'user', 'x-hasura-user-id': "u1' OR '1'='1" });
    expect(sess).toEqual({ data: { messages: [] } });
    expect(await count()).toBeGreaterThan(0);
  });
});
