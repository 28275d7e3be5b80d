/**
 * Action fidelity: the webhook body and headers, role permissions, Hasura's response validation messages
 * (reference/hasura.md §1.2), 4xx/5xx mapping (§1.3) and async actions (§1.4).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInputValidators } from '../../src/core/action-input.js';
import { definePlugin } from '../../src/core/plugin.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { createHasuraHarness, HarnessUnsupportedError, type HasuraHarness } from '../../src/testing/index.js';
import { RecordingServer, type ScriptedResponse } from './support/recorder.js';
import { createFixtureSchema, FIXTURE_METADATA } from './support/schema.js';

let db: ScratchDatabase;
let rec: RecordingServer;
let h: HasuraHarness;

const USER = { role: 'user', userId: 1 };
const SEND = `mutation Send($room: Int!, $body: String!, $meta: jsonb) {
  sendMessage(roomId: $room, body: $body, meta: $meta) { id createdAt warning }
}`;

beforeAll(async () => {
  db = await createScratchDatabase('harness_actions');
  await createFixtureSchema(db.url);
  rec = await RecordingServer.start();
  h = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: FIXTURE_METADATA,
    handlerBaseUrl: rec.url,
    env: { HOOK_SECRET: 's3cret', MANUAL_HOOK_URL: 'http://127.0.0.1:1' },
    hasuraVersion: 'v2.40.0',
  });
});

afterAll(async () => {
  await h?.close();
  await rec?.close();
  await db?.drop();
});

beforeEach(() => rec.reset());

const ok = (body: unknown): ScriptedResponse => ({ status: 200, body });
const OUTPUT = { id: 7, createdAt: '2024-05-01T10:00:00Z', warning: null };

describe('request to the handler', () => {
  it('POSTs {action:{name}, input, session_variables, request_query} with variables substituted and omitted optional arguments absent', async () => {
    rec.script('/actions/sendMessage', ok(OUTPUT));
    const res = await h.graphql(SEND, { room: 3, body: 'hi' }, { ...USER, orgId: 9 });
    expect(res).toEqual({ data: { sendMessage: { id: 7, createdAt: '2024-05-01T10:00:00Z', warning: null } } });
    const [req] = rec.to('/actions/sendMessage');
    expect(req!.body).toEqual({
      action: { name: 'sendMessage' },
      input: { roomId: 3, body: 'hi' },
      session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': '1', 'x-hasura-org-id': '9' },
      request_query: SEND,
    });
    expect('meta' in req!.body.input).toBe(false);
    expect('silent' in req!.body.input).toBe(false);
    expect(Object.keys(JSON.parse(req!.rawBody))).toEqual(['action', 'input', 'request_query', 'session_variables']);
  });

  it('keeps an explicit null, passes literals, enums, jsonb and input objects as JSON', async () => {
    rec.script('/actions/sendMessage', ok(OUTPUT), ok(OUTPUT));
    await h.graphql(SEND, { room: 1, body: 'x', meta: null }, USER);
    expect(rec.to('/actions/sendMessage')[0]!.body.input).toEqual({ roomId: 1, body: 'x', meta: null });
    await h.graphql(`mutation { sendMessage(roomId: 2, body: "lit", meta: {a: [1, "b"]}, silent: true, visibility: MEMBERS) { id } }`, undefined, USER);
    expect(rec.to('/actions/sendMessage')[1]!.body.input).toEqual({ roomId: 2, body: 'lit', meta: { a: [1, 'b'] }, silent: true, visibility: 'MEMBERS' });

    rec.script('/actions/searchMessages', ok([]));
    await h.graphql(`query($t: String!) { searchMessages(filter: {text: $t, roomIds: [1, 2]}) { id } }`, { t: 'q' }, USER);
    expect(rec.to('/actions/searchMessages')[0]!.body.input).toEqual({ filter: { text: 'q', roomIds: [1, 2] } });
  });

  it('sends Content-Type, User-Agent and configured headers; forwards client headers by Hasura\'s rules', async () => {
    rec.script('/actions/sendMessage', ok(OUTPUT));
    await h.graphql(SEND, { room: 1, body: 'h' }, USER, {
      headers: { Authorization: 'Bearer t', 'X-Hasura-Role': 'admin', Host: 'app.example', 'User-Agent': 'curl/8', Accept: 'x', 'X-Custom': 'c' },
    });
    const hd = rec.to('/actions/sendMessage')[0]!.headers;
    expect(hd['content-type']).toBe('application/json');
    expect(hd['user-agent']).toBe('hasura-graphql-engine/v2.40.0');
    expect(hd['x-nself-plugins-secret']).toBe('s3cret');
    expect(hd.authorization).toBe('Bearer t');
    expect(hd['x-custom']).toBe('c');
    expect(hd['x-forwarded-host']).toBe('app.example');
    expect(hd['x-forwarded-user-agent']).toBe('curl/8');
    expect(hd['x-hasura-role']).toBeUndefined();
    expect(hd.accept).toBeUndefined();
  });

  it('does not forward client headers when forward_client_headers is off', async () => {
    rec.script('/actions/listTags', ok([]));
    await h.graphql(`{ listTags }`, undefined, USER, { headers: { Authorization: 'Bearer t' } });
    expect(rec.to('/actions/listTags')[0]!.headers.authorization).toBeUndefined();
  });

  it('an admin request without a session carries {x-hasura-role: admin}', async () => {
    rec.script('/actions/adminOnly', ok(true));
    expect(await h.graphql(`mutation { adminOnly(x: 1) }`)).toEqual({ data: { adminOnly: true } });
    expect(rec.to('/actions/adminOnly')[0]!.body.session_variables).toEqual({ 'x-hasura-role': 'admin' });
  });
});

describe('permissions', () => {
  it('a role without the action\'s permission gets Hasura\'s field-not-found error, and the handler is never called', async () => {
    expect(await h.graphql(`mutation { adminOnly(x: 1) }`, undefined, USER)).toEqual({
      errors: [{ message: `field "adminOnly" not found in type: 'mutation_root'`, extensions: { path: '$.selectionSet.adminOnly', code: 'validation-failed' } }],
    });
    // a role without any mutation has no mutation_root at all
    expect(await h.graphql(SEND, { room: 1, body: 'x' }, { role: 'viewer', userId: 5 })).toEqual({
      errors: [{ message: 'no mutations exist', extensions: { path: '$', code: 'validation-failed' } }],
    });
    expect(await h.graphql(`query { roomStats(roomId: 1) { messages } }`, undefined, { role: 'anonymous' })).toEqual({
      errors: [{ message: `field "roomStats" not found in type: 'query_root'`, extensions: { path: '$.selectionSet.roomStats', code: 'validation-failed' } }],
    });
    expect(rec.requests).toHaveLength(0);
  });

  it('a permitted role, an inherited role and admin reach the handler', async () => {
    rec.respond('/actions/roomStats', () => ok({ messages: 3 }));
    for (const s of [{ role: 'viewer' }, { role: 'member' }, USER, null]) {
      expect(await h.graphql(`query { roomStats(roomId: 1) { messages } }`, undefined, s)).toEqual({ data: { roomStats: { messages: 3 } } });
    }
    expect(rec.to('/actions/roomStats')).toHaveLength(4);
  });

  it('unknown fields in the selection are reported on their type', async () => {
    expect(await h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { id nope } }`, undefined, USER)).toEqual({
      errors: [{ message: `field "nope" not found in type: 'SendMessageOutput'`, extensions: { path: '$.selectionSet.sendMessage.selectionSet.nope', code: 'validation-failed' } }],
    });
  });

  it('other invalid documents fail validation before any call', async () => {
    const bad = [
      `mutation { sendMessage(roomId: "one", body: "x") { id } }`,
      `mutation { sendMessage(body: "x") { id } }`,
      `mutation { sendMessage(roomId: 1, body: "x", nope: 1) { id } }`,
      `mutation { sendMessage(roomId: 1 body: }`,
    ];
    for (const doc of bad) {
      const r = await h.graphql(doc, undefined, USER);
      expect(r.data).toBeUndefined();
      expect(r.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    }
    const missingVar = await h.graphql(SEND, { room: 1 }, USER);
    expect(missingVar.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
    expect(rec.requests).toHaveLength(0);
  });
});

describe('response validation (reference/hasura.md §1.2)', () => {
  const cases: [string, string, ScriptedResponse, string][] = [
    ['non-JSON body', SEND, { status: 200, raw: 'not json' }, 'not a valid json response from webhook'],
    ['null for a non-null output', SEND, ok(null), 'got null for the action webhook response'],
    ['object for a list output', `{ listTags }`, ok({}), 'expecting array for the action webhook response'],
    ['array for an object output', SEND, ok([]), 'got array for the action webhook response, expecting SendMessageOutput'],
    ['string for an object output', SEND, ok('x'), 'got scalar String for the action webhook response, expecting SendMessageOutput'],
    ['number for a String', `{ listTags }`, ok([1]), 'got scalar String for the action webhook response, expecting String'],
    ['boolean for a String', `{ listTags }`, ok([true]), 'got scalar Boolean for the action webhook response, expecting String'],
    ['object for a String', `{ listTags }`, ok([{}]), 'got object for the action webhook response, expecting String'],
    ['missing non-null field', SEND, ok({ createdAt: 'x' }), 'field "id" expected in webhook response, but not found'],
    ['null non-null field', SEND, ok({ id: null, createdAt: 'x' }), 'expecting not null value for field "id"'],
    ['missing field in a list element', `query { searchMessages(filter: {text: "a"}) { id } }`, ok([{ id: 1, snippet: 's' }, { id: 2 }]), 'field "snippet" expected in webhook response, but not found'],
  ];
  it.each(cases)('%s', async (_name, doc, response, message) => {
    rec.script(doc === SEND ? '/actions/sendMessage' : doc.includes('searchMessages') ? '/actions/searchMessages' : '/actions/listTags', response);
    const r = await h.graphql(doc, doc === SEND ? { room: 1, body: 'x' } : undefined, USER);
    expect(r).toEqual({ errors: [{ message, extensions: { path: '$', code: 'unexpected' } }] });
  });

  it("admin sees extensions.internal in today's shape: {error, request: {url, body, headers, transformed_request}, response}", async () => {
    // Execute/Action/Types.hs ActionInternalError / ActionRequestInfo / ActionResponseInfo; Execute/Action.hs
    // callWebhook builds the request part from the handler as written in metadata (its {{ENV}} template,
    // never the resolved URL), the body sent, the configured and forwarded headers, and the transformed
    // request (null without a request_transform). reference/hasura.md §1.3 lists it without transformed_request.
    rec.script('/actions/adminOnly', ok('yes'));
    const r = await h.graphql(`mutation { adminOnly }`);
    expect(r.errors).toEqual([
      {
        message: 'got scalar String for the action webhook response, expecting Boolean',
        extensions: {
          path: '$',
          code: 'unexpected',
          internal: {
            error: 'unexpected response',
            request: {
              url: '{{NSELF_PLUGINS_URL}}/actions/adminOnly',
              body: { action: { name: 'adminOnly' }, input: {}, session_variables: { 'x-hasura-role': 'admin' }, request_query: 'mutation { adminOnly }' },
              headers: [],
              transformed_request: null,
            },
            response: { status: 200, body: 'yes', headers: expect.arrayContaining([{ name: 'Content-Type', value: 'application/json' }]) },
          },
        },
      },
    ]);
  });

  it('internal names configured secret headers by their env var and lists forwarded client headers, never the secret value', async () => {
    rec.script('/actions/sendMessage', { status: 503, body: { message: 'down' } });
    const r = await h.graphql(SEND, { room: 1, body: 'x' }, null, { headers: { Authorization: 'Bearer t', 'X-Hasura-Role': 'user' } });
    const internal = (r.errors![0]!.extensions as any).internal;
    expect(internal.error).toBe('expecting 2xx or 4xx status code, but found 503');
    expect(internal.request.url).toBe('{{NSELF_PLUGINS_URL}}/actions/sendMessage');
    expect(internal.request.headers).toEqual([
      { name: 'x-nself-plugins-secret', value_from_env: 'HOOK_SECRET' },
      { name: 'Authorization', value: 'Bearer t' },
    ]);
    expect(internal.request.transformed_request).toBeNull();
    expect(JSON.stringify(r)).not.toContain('s3cret');
  });

  it('ignores extra fields, projects aliases, __typename and nested objects', async () => {
    rec.script('/actions/sendMessage', ok({ id: 1, createdAt: 't', warning: 'w', extra: 'ignored', author: { id: 2, name: 'bob', x: 1 } }));
    const r = await h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { __typename ident: id id warning author { __typename id name } } }`, undefined, USER);
    expect(r).toEqual({ data: { sendMessage: { __typename: 'SendMessageOutput', ident: 1, id: 1, warning: 'w', author: { __typename: 'Author', id: 2, name: 'bob' } } } });
  });

  it('a selected field the handler left out comes back as null, at the top and in nested objects', async () => {
    // server/tests-py/queries/actions/sync/omitted_field_response_for_nullable_field.yaml: the handler answers
    // {"country": "India"}, the client gets {city: null, country: "India"} (issue #9191). reference/hasura.md
    // §1.2 describes the older engine, which left such fields out of the result.
    rec.script('/actions/sendMessage', ok({ id: 1, createdAt: 't', author: { id: 2 } }), ok({ id: 1, createdAt: 't' }));
    expect(await h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { id warning author { id name } } }`, undefined, USER)).toEqual({
      data: { sendMessage: { id: 1, warning: null, author: { id: 2, name: null } } },
    });
    expect(await h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { warning w2: warning author { id } } }`, undefined, USER)).toEqual({
      data: { sendMessage: { warning: null, w2: null, author: null } },
    });
  });

  it('nested objects are looked up by their alias, as Hasura does (an aliased nested object is not found: null)', async () => {
    rec.script('/actions/sendMessage', ok({ id: 1, createdAt: 't', author: { id: 2 } }));
    const r = await h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { id writer: author { id } } }`, undefined, USER);
    expect(r).toEqual({ data: { sendMessage: { id: 1, writer: null } } });
  });

  it('an action relationship to a table is refused loudly, never silently dropped', async () => {
    await expect(h.graphql(`mutation { sendMessage(roomId: 1, body: "x") { id message { body } } }`, undefined, USER)).rejects.toThrow(HarnessUnsupportedError);
    expect(rec.requests).toHaveLength(0);
  });

  it('a custom-scalar output is returned as sent, without checks', async () => {
    rec.script('/actions/rawStats', ok([1, { a: null }, 'x']));
    expect(await h.graphql(`{ rawStats }`, undefined, USER)).toEqual({ data: { rawStats: [1, { a: null }, 'x'] } });
  });

  it('a nullable object output may be null', async () => {
    rec.script('/actions/roomStats', ok(null));
    expect(await h.graphql(`{ roomStats(roomId: 1) { messages } }`, undefined, USER)).toEqual({ data: { roomStats: null } });
  });
});

describe('error responses (reference/hasura.md §1.3)', () => {
  it('a 4xx with extensions passes them verbatim, without path or code', async () => {
    rec.script('/actions/sendMessage', { status: 400, body: { message: 'invalid credentials', extensions: { code: 'AUTH_FAILED', field: 'password' } } });
    expect(await h.graphql(SEND, { room: 1, body: 'x' }, USER)).toEqual({
      errors: [{ message: 'invalid credentials', extensions: { code: 'AUTH_FAILED', field: 'password' } }],
    });
  });

  it('a 4xx without extensions gets {path: "$", code: <handler code or unexpected>}', async () => {
    rec.script('/actions/sendMessage', { status: 422, body: { message: 'too long', code: 'TOO_LONG' } }, { status: 404, body: { message: 'no room' } });
    expect(await h.graphql(SEND, { room: 1, body: 'x' }, USER)).toEqual({ errors: [{ message: 'too long', extensions: { path: '$', code: 'TOO_LONG' } }] });
    expect(await h.graphql(SEND, { room: 1, body: 'x' }, USER)).toEqual({ errors: [{ message: 'no room', extensions: { path: '$', code: 'unexpected' } }] });
  });

  it('a 4xx without a message is a parse failure', async () => {
    rec.script('/actions/sendMessage', { status: 400, body: { error: 'x' } });
    const r = await h.graphql(SEND, { room: 1, body: 'x' }, USER);
    expect(r.errors![0]).toEqual({ message: 'Error in $: key "message" not found', extensions: { path: '$', code: 'parse-failed' } });
  });

  it('5xx (and 3xx) become "internal error" with code unexpected; only admin sees the status in internal', async () => {
    rec.script('/actions/sendMessage', { status: 500, body: { message: 'secret detail' } }, { status: 302, body: {} });
    expect(await h.graphql(SEND, { room: 1, body: 'x' }, USER)).toEqual({ errors: [{ message: 'internal error', extensions: { path: '$', code: 'unexpected' } }] });
    const admin = await h.graphql(SEND, { room: 1, body: 'x' });
    expect(admin.errors![0]).toMatchObject({ message: 'internal error', extensions: { code: 'unexpected', internal: { error: 'expecting 2xx or 4xx status code, but found 302' } } });
  });

  it('a handler slower than the action timeout (1 s here; default 30 s) is an http exception', async () => {
    rec.script('/actions/roomStats', { status: 200, body: { messages: 1 }, delayMs: 1_500 });
    const started = Date.now();
    const r = await h.graphql(`{ roomStats(roomId: 1) { messages } }`, undefined, USER);
    expect(Date.now() - started).toBeLessThan(1_400);
    expect(r).toEqual({ errors: [{ message: 'http exception when calling webhook', extensions: { path: '$', code: 'unexpected' } }] });
  });

  it('an unreachable handler is an http exception too', async () => {
    const other = await createHasuraHarness({
      databaseUrl: db.url,
      metadataDir: FIXTURE_METADATA,
      handlerBaseUrl: 'http://127.0.0.1:9',
      env: { HOOK_SECRET: 's', MANUAL_HOOK_URL: 'http://127.0.0.1:9' },
      autoStart: false,
    });
    try {
      expect((await other.graphql(`{ listTags }`, undefined, USER)).errors![0]!.message).toBe('http exception when calling webhook');
    } finally {
      await other.close();
    }
  });
});

describe('async actions (reference/hasura.md §1.4)', () => {
  it('returns an action id at once, calls the handler in the background, and serves the result by id', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    rec.respond('/actions/exportRoom', async () => {
      await gate;
      return ok({ url: 'https://x/export.zip', bytes: 12, extra: true });
    });
    const r = await h.graphql<{ exportRoom: string }>(`mutation { exportRoom(roomId: 4) }`, undefined, USER);
    const id = r.data!.exportRoom;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await h.asyncActionResult(id)).toMatchObject({ id, output: null, errors: null });
    release();
    await h.drain();
    const [req] = rec.to('/actions/exportRoom');
    expect(req!.body).toEqual({ action: { name: 'exportRoom' }, input: { roomId: 4 }, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': '1' }, request_query: null });
    const stored = await h.asyncActionResult(id);
    expect(stored).toMatchObject({ id, errors: null, output: { url: 'https://x/export.zip', bytes: 12, extra: true }, status: 'completed' });
    expect(stored!.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);

    const q = `query($id: uuid!) { exportRoom(id: $id) { __typename id created_at errors output { url } } }`;
    expect(await h.graphql(q, { id }, USER)).toEqual({
      data: { exportRoom: { __typename: 'exportRoom', id, created_at: stored!.created_at, errors: null, output: { url: 'https://x/export.zip' } } },
    });
    // another session does not see it; admin does
    expect(await h.graphql(q, { id }, { role: 'user', userId: 2 })).toEqual({ data: { exportRoom: null } });
    expect((await h.graphql<any>(q, { id })).data.exportRoom.id).toBe(id);
  });

  it('stores handler errors and never retries', async () => {
    rec.script('/actions/exportRoom', { status: 400, body: { message: 'room too big', code: 'TOO_BIG' } });
    const r = await h.graphql<{ exportRoom: string }>(`mutation { exportRoom(roomId: 5, format: "zip") }`, undefined, USER);
    await h.drain();
    expect(await h.asyncActionResult(r.data!.exportRoom)).toMatchObject({ status: 'error', output: null, errors: { path: '$', error: 'room too big', code: 'TOO_BIG' } });
    expect(rec.to('/actions/exportRoom')).toHaveLength(1);
    expect(rec.to('/actions/exportRoom')[0]!.body.input).toEqual({ roomId: 5, format: 'zip' });
  });
});

describe('async action errors and ids (reference/hasura.md §1.4)', () => {
  const Q = `query($id: uuid!) { exportRoom(id: $id) { id errors output { url } } }`;

  it('keep internal for admin and hide it from other roles', async () => {
    // server/tests-py/test_actions.py, test_async_actions_error_response_user_role / _admin_role: the user
    // reads {code, path, error}; admin's errors carry `internal`. hdb_action_log.errors stores it either way.
    rec.script('/actions/exportRoom', { status: 200, raw: 'not json' });
    const id = (await h.graphql<{ exportRoom: string }>(`mutation { exportRoom(roomId: 6) }`, undefined, USER)).data!.exportRoom;
    await h.drain();
    expect(await h.graphql(Q, { id }, USER)).toEqual({
      data: { exportRoom: { id, errors: { code: 'unexpected', path: '$', error: 'not a valid json response from webhook' }, output: null } },
    });
    const admin = await h.graphql<any>(Q, { id });
    expect(admin.data.exportRoom.errors).toEqual({
      code: 'unexpected',
      path: '$',
      error: 'not a valid json response from webhook',
      internal: {
        error: expect.stringMatching(/^invalid json: /),
        request: {
          url: '{{NSELF_PLUGINS_URL}}/actions/exportRoom',
          body: { action: { name: 'exportRoom' }, input: { roomId: 6 }, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': '1' }, request_query: null },
          headers: [],
          transformed_request: null,
        },
        response: { status: 200, body: 'not json', headers: expect.any(Array) },
      },
    });
    expect((await h.asyncActionResult(id))!.errors).toHaveProperty('internal');
  });

  it("parse the action id strictly (Hasura's own uuid parser), unlike a uuid argument", async () => {
    expect(await h.graphql(Q, { id: 'not-an-id' }, USER)).toEqual({
      errors: [{ message: 'invalid UUID', extensions: { path: '$.selectionSet.exportRoom.args.id', code: 'parse-failed' } }],
    });
  });
});

describe('arguments of PostgreSQL scalars are forwarded as the client sent them', () => {
  // Schema/Action.hs customScalarParser (ASTReusedScalar) validates with parsePGValue (Backends/Postgres/SQL/
  // Value.hs), where `(_, String t) -> parseTyped <|> pure (PGValUnknown t)`: any string passes, and the
  // original JSON is forwarded. Non-strings must parse as the type. Built-in scalars stay strict.
  const ECHO = `query ($id: uuid, $at: timestamptz, $day: date, $n: numeric, $big: bigint, $small: smallint, $f8: float8, $j: jsonb, $ids: [uuid!], $key: ID) {
    echoScalars(id: $id, at: $at, day: $day, n: $n, big: $big, small: $small, f8: $f8, j: $j, ids: $ids, key: $key) }`;
  const fixtureValidator = createInputValidators(
    [definePlugin({ name: 'fx', version: '1', description: 'fixture', actions: { echoScalars: { handler: async () => null } } })],
    () => readFileSync(join(FIXTURE_METADATA, 'actions.graphql'), 'utf8'),
  ).get('echoScalars')!;

  beforeEach(() => rec.respond('/actions/echoScalars', (req) => ok(req.body.input)));

  /** Runs a request and returns what the handler received; also checks our own dispatcher would accept it. */
  async function forwarded(doc: string, vars?: Record<string, unknown>): Promise<unknown> {
    const before = rec.to('/actions/echoScalars').length;
    const r = await h.graphql<{ echoScalars: unknown }>(doc, vars, USER);
    expect(r.errors).toBeUndefined();
    const input = rec.to('/actions/echoScalars')[before]!.body.input;
    expect(r.data!.echoScalars).toEqual(input);
    expect(fixtureValidator(input)).toEqual(input);
    return input;
  }

  it('any string, for every PostgreSQL scalar: infinity, relative dates, numbers as text, ids that are not UUIDs', async () => {
    const vars = { id: 'not-a-uuid', at: 'infinity', day: 'tomorrow', n: '123.4500', big: '9223372036854775807', small: '7', f8: 'NaN', j: 'text', ids: ['x', 'y'] };
    expect(await forwarded(ECHO, vars)).toEqual(vars);
    expect(await forwarded(ECHO, { at: '2024-05-01 10:00', day: '2024-05-01' })).toEqual({ at: '2024-05-01 10:00', day: '2024-05-01' });
  });

  it('numbers within the type, any JSON for jsonb, and an ID number as a string', async () => {
    const vars = { n: 1e21, big: 2 ** 53, small: -32768, f8: 1.5, j: [1, { a: null }], key: 12 };
    expect(await forwarded(ECHO, vars)).toEqual({ ...vars, key: '12' });
    expect(await forwarded(`{ echoScalars(at: "2024-05-01T10:00:00+02", n: 12.50, big: -5, small: 32767, j: {a: [1, "b"], c: null}) }`)).toEqual({
      at: '2024-05-01T10:00:00+02',
      n: 12.5,
      big: -5,
      small: 32767,
      j: { a: [1, 'b'], c: null },
    });
  });

  it('refuses non-strings that do not parse as the type with parse-failed, and never calls the handler', async () => {
    const bad: Record<string, unknown>[] = [{ id: 5 }, { at: 1714557600000 }, { day: true }, { big: 1.5 }, { small: 40000 }, { n: true }, { f8: false }, { ids: [1] }];
    for (const vars of bad) {
      const r = await h.graphql(ECHO, vars, USER);
      expect(r.errors![0]!.extensions).toEqual({ path: '$', code: 'parse-failed' });
    }
    expect((await h.graphql(`{ echoScalars(small: 32768) }`, undefined, USER)).errors![0]!.extensions).toEqual({ path: '$', code: 'parse-failed' });
    expect(rec.to('/actions/echoScalars')).toHaveLength(0);
  });

  it('keeps the built-in scalars strict: no numbers as strings, no Int overflow', async () => {
    const doc = `query ($i: Int, $fl: Float, $s: String, $b: Boolean) { echoScalars(i: $i, fl: $fl, s: $s, b: $b) }`;
    for (const vars of [{ i: '123' }, { i: 2 ** 31 }, { i: 1.5 }, { fl: '1.5' }, { s: 5 }, { b: 'true' }]) {
      expect((await h.graphql(doc, vars, USER)).errors![0]!.extensions).toEqual({ path: '$', code: 'validation-failed' });
    }
    expect(rec.to('/actions/echoScalars')).toHaveLength(0);
    expect(await forwarded(doc, { i: -(2 ** 31), fl: 3, s: '', b: false })).toEqual({ i: -(2 ** 31), fl: 3, s: '', b: false });
  });
});

describe('operations', () => {
  it('runs several root fields, honours @skip/@include and fragments, and answers __typename', async () => {
    rec.respond('/actions/listTags', () => ok(['a', 'b']));
    rec.respond('/actions/roomStats', () => ok({ messages: 2, ratio: 0.5 }));
    const r = await h.graphql(
      `query Q($skip: Boolean!) { __typename tags: listTags(prefix: "a") stats: roomStats(roomId: 1) { ...S } hidden: listTags @skip(if: $skip) }
       fragment S on RoomStats { messages ratio }`,
      { skip: true },
      USER,
    );
    expect(r).toEqual({ data: { __typename: 'query_root', tags: ['a', 'b'], stats: { messages: 2, ratio: 0.5 } } });
    expect(rec.to('/actions/listTags')).toHaveLength(1);
  });

  it('answers introspection from the role\'s schema', async () => {
    const r = await h.graphql<any>(`{ __schema { mutationType { fields { name } } } }`, undefined, USER);
    expect(r.data.__schema.mutationType.fields.map((f: { name: string }) => f.name).sort()).toEqual(['exportRoom', 'sendMessage']);
  });

  it('needs an operation name when the document has several operations', async () => {
    const doc = `query A { listTags } query B { rawStats }`;
    expect((await h.graphql(doc, undefined, USER)).errors![0]!.message).toBe('exactly one operation has to be present in the document when operationName is not specified');
    rec.script('/actions/rawStats', ok(1));
    expect(await h.graphql(doc, undefined, USER, { operationName: 'B' })).toEqual({ data: { rawStats: 1 } });
  });
});
