/**
 * Event-trigger fidelity: the SQL objects, payloads compared field by field with the captured Hasura payload in
 * reference/hasura.md §2.1, listen and payload columns, session variables, retries, Retry-After and timeouts.
 */
import pg from 'pg';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { parseHasuraTimestamp } from '../../src/core/hasura-time.js';
import { createHasuraHarness, HasuraError, type HasuraHarness } from '../../src/testing/index.js';
import { RecordingServer } from './support/recorder.js';
import { createFixtureSchema, FIXTURE_METADATA } from './support/schema.js';

/**
 * The captured payload from reference/hasura.md §2.1 (2022). Its `created_at` ends in `Z` because Hasura then
 * decoded event_log.created_at as a UTCTime; today's EventPayload.epCreatedAt is a LocalTime (see below).
 */
const HASURA_EXAMPLE = {
  id: '3692b725-6337-4e35-8c9c-7ccac263f453',
  created_at: '2022-09-19T20:04:47.569918Z',
  trigger: { name: 'n8n-test' },
  table: { schema: 'public', name: 'form_entries' },
  delivery_info: { max_retries: 3, current_retry: 0 },
  event: {
    op: 'INSERT',
    data: { old: null, new: { id: 3003555, created_at: '2022-09-19T20:04:47.569918', fields: '...' } },
    session_variables: { 'x-hasura-role': 'admin' },
    trace_context: { trace_id: '85fcfa2cff6a7e2f', span_id: '9d616af98f909edf' },
  },
};

/** The type skeleton of a JSON value: same keys, leaves replaced by their JSON type. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** aeson's encoding of a Haskell LocalTime: no zone, the fraction without trailing zeros. */
const HASURA_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,5}[1-9])?$/;

let db: ScratchDatabase;
let rec: RecordingServer;
let h: HasuraHarness;

beforeAll(async () => {
  db = await createScratchDatabase('harness_events');
  await createFixtureSchema(db.url);
  rec = await RecordingServer.start();
  h = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: FIXTURE_METADATA,
    handlerBaseUrl: rec.url,
    env: { HOOK_SECRET: 's3cret', MANUAL_HOOK_URL: `${rec.url}/events/message_manual` },
    hasuraVersion: 'v2.40.0',
  });
  await h.pool.query(`INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob')`);
  await h.pool.query(`INSERT INTO rooms (name, owner_id) VALUES ('general', 1)`);
  await h.drain({ fastForward: true });
});

afterAll(async () => {
  await h?.close();
  await rec?.close();
  await db?.drop();
});

beforeEach(() => rec.reset());

async function insertMessage(body: string, client: pg.ClientBase | pg.Pool = h.pool): Promise<number> {
  const r = await client.query<{ id: string }>(`INSERT INTO messages (room_id, author_id, body) VALUES (1, 1, $1) RETURNING id`, [body]);
  return Number(r.rows[0]!.id);
}

describe('SQL objects', () => {
  it('creates the catalog and one notify function + trigger per enabled operation, named as Hasura names them', async () => {
    const fns = await h.pool.query<{ proname: string }>(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'hdb_catalog' ORDER BY 1`,
    );
    const names = fns.rows.map((r) => r.proname);
    expect(names).toEqual(
      expect.arrayContaining([
        'gen_hasura_uuid',
        'insert_event_log',
        'notify_hasura_message_created_INSERT',
        'notify_hasura_message_edited_UPDATE',
        'notify_hasura_message_deleted_DELETE',
        'notify_hasura_user_changed_INSERT',
        'notify_hasura_user_changed_UPDATE',
        'notify_hasura_reaction_added_INSERT',
      ]),
    );
    // manual-only triggers and disabled operations get no function
    expect(names.filter((n) => n.startsWith('notify_hasura_message_manual'))).toEqual([]);
    expect(names).not.toContain('notify_hasura_message_created_UPDATE');
    const trig = await h.pool.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.messages'::regclass ORDER BY 1`);
    expect(trig.rows.map((r) => r.tgname).filter((n) => n.startsWith('notify_'))).toEqual([
      'notify_hasura_message_created_INSERT',
      'notify_hasura_message_deleted_DELETE',
      'notify_hasura_message_edited_UPDATE',
    ]);
    const cols = await h.pool.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'hdb_catalog' AND table_name = 'event_log' ORDER BY ordinal_position`,
    );
    expect(cols.rows.map((c) => `${c.column_name}:${c.data_type}`)).toEqual([
      'id:text',
      'schema_name:text',
      'table_name:text',
      'trigger_name:text',
      'payload:jsonb',
      'delivered:boolean',
      'error:boolean',
      'tries:integer',
      'created_at:timestamp without time zone',
      'locked:timestamp with time zone',
      'next_retry_at:timestamp without time zone',
      'archived:boolean',
    ]);
  });

  it('a second harness on the same database reinstalls idempotently', async () => {
    const again = await createHasuraHarness({ databaseUrl: db.url, metadataDir: FIXTURE_METADATA, handlerBaseUrl: rec.url, env: { HOOK_SECRET: 'x', MANUAL_HOOK_URL: 'http://127.0.0.1:1' }, autoStart: false });
    await again.close();
    const n = await h.pool.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'notify_hasura_%'`);
    expect(n.rows[0].n).toBe(7);
  });
});

describe('payloads', () => {
  it('an INSERT by raw SQL has exactly the shape of the captured Hasura payload, with session_variables null', async () => {
    const id = await insertMessage('hello');
    await h.drain();
    const [req] = rec.to('/events/message_created');
    const p = req!.body;
    expect(Object.keys(p).sort()).toEqual(Object.keys(HASURA_EXAMPLE).sort());
    expect(Object.keys(p.event).sort()).toEqual(Object.keys(HASURA_EXAMPLE.event).sort());
    expect(shape({ ...p, event: { ...p.event, data: { old: null, new: {} }, session_variables: {}, trace_context: {} } })).toEqual(
      shape({ ...HASURA_EXAMPLE, event: { ...HASURA_EXAMPLE.event, data: { old: null, new: {} }, session_variables: {}, trace_context: {} } }),
    );
    expect(p.id).toMatch(UUID);
    expect(p.created_at).toMatch(HASURA_TIME);
    expect(p.trigger).toEqual({ name: 'message_created' });
    expect(p.table).toEqual({ schema: 'public', name: 'messages' });
    expect(p.delivery_info).toEqual({ max_retries: 2, current_retry: 0 });
    expect(p.event.op).toBe('INSERT');
    expect(p.event.session_variables).toBeNull();
    expect(p.event.trace_context).toBeNull();
    expect(p.event.data.old).toBeNull();
    const row = p.event.data.new;
    expect(Object.keys(row).sort()).toEqual(['author_id', 'body', 'created_at', 'edited', 'id', 'meta', 'posted_at', 'room_id']);
    // row_to_json formats: bigint is a number, timestamptz has an offset, timestamp has none
    expect(row.id).toBe(id);
    expect(row.body).toBe('hello');
    expect(row.meta).toBeNull();
    expect(row.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/);
    expect(row.posted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/);
  });

  it('sends keys sorted, as aeson encodes them, and the configured and default headers', async () => {
    await insertMessage('headers');
    await h.drain();
    const [req] = rec.to('/events/message_created');
    expect(req!.rawBody.startsWith('{"created_at":')).toBe(true);
    expect(Object.keys(JSON.parse(req!.rawBody))).toEqual(['created_at', 'delivery_info', 'event', 'id', 'table', 'trigger']);
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['user-agent']).toBe('hasura-graphql-engine/v2.40.0');
    expect(req!.headers['x-nself-plugins-secret']).toBe('s3cret');
    expect(req!.headers['x-static']).toBe('fixed');
  });

  it('created_at is event_log.created_at as Hasura encodes a LocalTime: no zone, the stored fraction without trailing zeros', async () => {
    // server/src-lib/Hasura/Eventing/EventTrigger.hs: `EventPayload { …, epCreatedAt :: Time.LocalTime }`
    // and `createEventPayload … epCreatedAt = eCreatedAt e`, encoded by aeson. reference/hasura.md §2.1 shows
    // the older UTCTime encoding with a `Z`; the code wins. Handlers read it with parseHasuraTimestamp (UTC).
    const stored = ['2023-05-01 12:34:56.123456', '2023-05-01 12:34:56.12', '2023-05-01 12:34:50', '2023-05-01 00:00:00.5'];
    const sent = ['2023-05-01T12:34:56.123456', '2023-05-01T12:34:56.12', '2023-05-01T12:34:50', '2023-05-01T00:00:00.5'];
    const ids: string[] = [];
    for (const at of stored) {
      const r = await h.pool.query<{ id: string }>(
        `INSERT INTO hdb_catalog.event_log (schema_name, table_name, trigger_name, payload, created_at)
         VALUES ('public', 'messages', 'message_created', $1, $2) RETURNING id`,
        [{ op: 'INSERT', data: { old: null, new: { id: 0 } }, session_variables: null, trace_context: null }, at],
      );
      ids.push(r.rows[0]!.id);
    }
    await h.drain();
    const byId = new Map(rec.to('/events/message_created').map((q) => [q.body.id as string, q.body.created_at as string]));
    expect(ids.map((id) => byId.get(id))).toEqual(sent);
    expect(sent.map((t) => parseHasuraTimestamp(t)!.toISOString())).toEqual([
      '2023-05-01T12:34:56.123Z',
      '2023-05-01T12:34:56.120Z',
      '2023-05-01T12:34:50.000Z',
      '2023-05-01T00:00:00.500Z',
    ]);
  });

  it('created_at of a trigger-written event is now() in the writing session, as stored', async () => {
    await insertMessage('time');
    await h.drain();
    const p = rec.to('/events/message_created')[0]!.body;
    const r = await h.pool.query(`SELECT created_at::text AS t FROM hdb_catalog.event_log WHERE id = $1`, [p.id]);
    expect(p.created_at).toMatch(HASURA_TIME);
    const [date, time] = (r.rows[0].t as string).split(' ');
    expect(p.created_at).toBe(`${date}T${time!.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')}`);
  });

  it('withSession puts the session (lower-case keys, string values) and a trace context in the payload', async () => {
    await h.withSession({ role: 'user', userId: 2, orgId: 7, 'X-Hasura-Team': 'red' }, (c) => insertMessage('as bob', c));
    await h.drain();
    const e = rec.to('/events/message_created')[0]!.body.event;
    expect(e.session_variables).toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': '2', 'x-hasura-org-id': '7', 'x-hasura-team': 'red' });
    expect(Object.keys(e.trace_context).sort()).toEqual(['span_id', 'trace_id']);
    // the setting does not leak into later raw writes on the same pooled connection
    await insertMessage('raw again');
    await h.drain();
    expect(rec.to('/events/message_created')[1]!.body.event.session_variables).toBeNull();
  });

  it('UPDATE: fires only when a listened column changes, and carries only the payload columns', async () => {
    const id = await insertMessage('v1');
    await h.pool.query(`UPDATE messages SET edited = true, meta = '{"a":1}' WHERE id = $1`, [id]);
    await h.pool.query(`UPDATE messages SET body = body WHERE id = $1`, [id]);
    await h.drain();
    expect(rec.to('/events/message_edited')).toHaveLength(0);
    await h.pool.query(`UPDATE messages SET body = 'v2' WHERE id = $1`, [id]);
    await h.drain();
    const [req] = rec.to('/events/message_edited');
    expect(req!.body.event.op).toBe('UPDATE');
    expect(req!.body.event.data).toEqual({ old: { id, body: 'v1', edited: true }, new: { id, body: 'v2', edited: true } });
  });

  it("UPDATE with columns '*' compares every column, including json ones (binary comparison fallback)", async () => {
    await h.pool.query(`INSERT INTO users (id, name, settings) VALUES (10, 'json', '{"a":1}')`);
    await h.drain();
    rec.reset();
    await h.pool.query(`UPDATE users SET settings = '{"a":1}' WHERE id = 10`);
    await h.pool.query(`UPDATE users SET name = name WHERE id = 10`);
    await h.drain();
    expect(rec.to('/events/user_changed')).toHaveLength(0);
    await h.pool.query(`UPDATE users SET settings = '{"a":2}' WHERE id = 10`);
    await h.drain();
    expect(rec.to('/events/user_changed')).toHaveLength(1);
    expect(rec.to('/events/user_changed')[0]!.body.event.data.new.settings).toEqual({ a: 2 });
  });

  it('DELETE carries {old: row, new: null}', async () => {
    const id = await insertMessage('bye');
    await h.pool.query(`DELETE FROM messages WHERE id = $1`, [id]);
    await h.drain();
    const [req] = rec.to('/events/message_deleted');
    expect(req!.body.event.op).toBe('DELETE');
    expect(req!.body.event.data.new).toBeNull();
    expect(req!.body.event.data.old).toMatchObject({ id, body: 'bye', room_id: 1 });
  });

  it('INSERT payload subset on a table in another schema', async () => {
    const mid = await insertMessage('react');
    await h.pool.query(`INSERT INTO chat.reactions (message_id, emoji, score, big) VALUES ($1, ':)', 1.50, 9007199254740993)`, [mid]);
    await h.drain();
    const [req] = rec.to('/events/reaction_added');
    expect(req!.body.table).toEqual({ schema: 'chat', name: 'reactions' });
    expect(req!.body.event.data.new).toEqual({ id: 1, emoji: ':)', score: 1.5 });
  });

  it('MANUAL events carry {old: null, new: payload}, go to webhook_from_env, and need enable_manual', async () => {
    const { event_id } = await h.invokeEventTrigger('message_manual', { hello: 'world' });
    expect(event_id).toMatch(UUID);
    await h.drain();
    const [req] = rec.to('/events/message_manual');
    expect(req!.body.id).toBe(event_id);
    expect(req!.body.event).toMatchObject({ op: 'MANUAL', data: { old: null, new: { hello: 'world' } }, session_variables: { 'x-hasura-role': 'admin' } });
    expect(req!.body.delivery_info).toEqual({ max_retries: 0, current_retry: 0 });
    await expect(h.invokeEventTrigger('message_created', {})).rejects.toThrow(new HasuraError('manual mode is not enabled for event trigger', 'not-supported'));
    await expect(h.invokeEventTrigger('nope', {})).rejects.toThrow(/does not exist/);
  });
});

describe('delivery, retries and Retry-After', () => {
  it('a 2xx marks the event delivered and logs the invocation in Hasura\'s shape', async () => {
    rec.script('/events/message_created', { status: 200, body: { ok: true } });
    await insertMessage('logged');
    await h.drain();
    const id = rec.to('/events/message_created')[0]!.body.id;
    const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === id);
    expect(ev).toMatchObject({ delivered: true, error: false, tries: 1, locked: null, next_retry_at: null });
    const [inv] = await h.invocations(id);
    expect(inv!.status).toBe(200);
    expect(inv!.request.version).toBe('2');
    expect(inv!.request.payload).toEqual(rec.to('/events/message_created')[0]!.body);
    expect(inv!.request.headers).toEqual([
      { name: 'Content-Type', value: 'application/json' },
      { name: 'User-Agent', value: 'hasura-graphql-engine/v2.40.0' },
      { name: 'x-nself-plugins-secret', value_from_env: 'HOOK_SECRET' },
      { name: 'X-Static', value: 'fixed' },
    ]);
    expect(inv!.response).toMatchObject({ type: 'webhook_response', version: '2', data: { status: 200, body: '{"ok":true}' } });
  });

  it('failures retry every interval_sec with current_retry = earlier attempts, then error after num_retries + 1 attempts', async () => {
    rec.respond('/events/message_created', () => ({ status: 500, body: { boom: 1 } }));
    const before = h.clock.now().getTime();
    await insertMessage('always fails');
    await h.drain({ fastForward: true });
    const reqs = rec.to('/events/message_created');
    expect(reqs).toHaveLength(3);
    expect(reqs.map((r) => r.body.delivery_info)).toEqual([
      { max_retries: 2, current_retry: 0 },
      { max_retries: 2, current_retry: 1 },
      { max_retries: 2, current_retry: 2 },
    ]);
    expect(new Set(reqs.map((r) => r.body.id)).size).toBe(1);
    const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === reqs[0]!.body.id);
    expect(ev).toMatchObject({ delivered: false, error: true, tries: 3, next_retry_at: null, locked: null });
    // the clock moved by the two 10 s intervals and no more
    expect(h.clock.now().getTime() - before).toBeGreaterThanOrEqual(20_000);
    expect(h.clock.now().getTime() - before).toBeLessThan(25_000);
    const inv = await h.invocations(reqs[0]!.body.id);
    expect(inv.map((i) => i.status)).toEqual([500, 500, 500]);
    expect(inv[0]!.response).toEqual({ data: { message: '{"boom":1}' }, type: 'client_error', version: '2' });
  });

  it('a retry is scheduled interval_sec after the failure and is not fetched earlier', async () => {
    rec.script('/events/message_created', { status: 503 });
    await insertMessage('once');
    await h.drain({ timeoutMs: 300 });
    const id = rec.to('/events/message_created')[0]!.body.id;
    const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === id);
    expect(ev!.tries).toBe(1);
    expect(ev!.delivered).toBe(false);
    const delayMs = ev!.next_retry_at!.getTime() - h.clock.now().getTime();
    expect(delayMs).toBeGreaterThan(9_000);
    expect(delayMs).toBeLessThanOrEqual(10_000);
    expect(rec.to('/events/message_created')).toHaveLength(1);
    await h.drain({ fastForward: true });
    expect(rec.to('/events/message_created')).toHaveLength(2);
  });

  it('Retry-After (integer seconds) sets the delay and forces retries beyond num_retries', async () => {
    rec.script(
      '/events/message_created',
      { status: 500 },
      { status: 500 },
      { status: 500 },
      { status: 429, headers: { 'Retry-After': '1' } },
      { status: 503, headers: { 'Retry-After': '1' } },
      { status: 200 },
    );
    await insertMessage('rate limited');
    await h.drain({ fastForward: true });
    const reqs = rec.to('/events/message_created');
    // without Retry-After, the third failure exhausts num_retries = 2
    expect(reqs).toHaveLength(3);
    const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === reqs[0]!.body.id);
    expect(ev!.error).toBe(true);

    rec.reset();
    rec.script(
      '/events/message_created',
      { status: 500 },
      { status: 500 },
      { status: 429, headers: { 'Retry-After': '1' } },
      { status: 503, headers: { 'Retry-After': '1' } },
      { status: 200 },
    );
    await insertMessage('rate limited 2');
    await h.drain({ timeoutMs: 30_000, fastForward: true });
    const again = rec.to('/events/message_created');
    expect(again.map((r) => r.body.delivery_info.current_retry)).toEqual([0, 1, 2, 3, 4]);
    const [ev2] = (await h.eventLog('message_created')).filter((e) => e.id === again[0]!.body.id);
    expect(ev2).toMatchObject({ delivered: true, error: false, tries: 5 });
  });

  it('Retry-After is honoured in real time: the retry comes one second later', async () => {
    rec.script('/events/message_created', { status: 503, headers: { 'Retry-After': '1' } }, { status: 200 });
    await insertMessage('wait a second');
    await h.drain({ timeoutMs: 5_000 });
    const reqs = rec.to('/events/message_created');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('ignores invalid Retry-After values (HTTP dates, zero, negative, fractions) and Retry-After on 2xx', async () => {
    for (const value of ['Wed, 21 Oct 2015 07:28:00 GMT', '0', '-5', '1.5']) {
      rec.reset();
      rec.respond('/events/message_created', () => ({ status: 503, headers: { 'Retry-After': value } }));
      await insertMessage(`bad retry-after ${value}`);
      await h.drain({ fastForward: true });
      const reqs = rec.to('/events/message_created');
      expect(reqs).toHaveLength(3);
      const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === reqs[0]!.body.id);
      expect(ev!.error).toBe(true);
    }
    rec.reset();
    rec.script('/events/message_created', { status: 200, headers: { 'Retry-After': '5' } });
    await insertMessage('ok with retry-after');
    await h.drain();
    const [ev] = (await h.eventLog('message_created')).filter((e) => e.id === rec.to('/events/message_created')[0]!.body.id);
    expect(ev).toMatchObject({ delivered: true, tries: 1 });
  });

  it('a handler slower than timeout_sec is a failure with a null status and an http_exception log', async () => {
    rec.script('/events/room_created', { status: 200, delayMs: 1_500 });
    await h.pool.query(`INSERT INTO rooms (name, owner_id) VALUES ('slow', 1)`);
    await h.drain({ timeoutMs: 5_000 });
    const [req] = rec.to('/events/room_created');
    const [ev] = (await h.eventLog('room_created')).filter((e) => e.id === req!.body.id);
    expect(ev).toMatchObject({ delivered: false, error: true, tries: 1 });
    const [inv] = await h.invocations(req!.body.id);
    expect(inv!.status).toBeNull();
    expect(inv!.response.type).toBe('client_error');
    expect(JSON.parse(String(inv!.response.data.message))).toMatchObject({ type: 'http_exception', message: 'Response timeout' });
  });

  it('redeliverEvent resets an errored event and it is delivered again', async () => {
    rec.script('/events/room_created', { status: 400 });
    await h.pool.query(`INSERT INTO rooms (name, owner_id) VALUES ('redeliver', 1)`);
    await h.drain();
    const id = rec.to('/events/room_created')[0]!.body.id;
    await h.redeliverEvent(id);
    await h.drain();
    const reqs = rec.to('/events/room_created');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.body.delivery_info.current_retry).toBe(0);
  });

  it('claims with FOR UPDATE SKIP LOCKED: an event locked elsewhere is left alone until its lock expires (30 min)', async () => {
    const h2 = await createHasuraHarness({ databaseUrl: db.url, metadataDir: FIXTURE_METADATA, handlerBaseUrl: rec.url, env: { HOOK_SECRET: 's3cret', MANUAL_HOOK_URL: 'http://127.0.0.1:1' }, autoStart: false });
    try {
      await h2.pool.query(
        `INSERT INTO hdb_catalog.event_log (schema_name, table_name, trigger_name, payload, locked)
         VALUES ('public', 'messages', 'message_created', '{"op":"INSERT","data":{"old":null,"new":{"id":0}},"session_variables":null,"trace_context":null}', now())`,
      );
      await h.drain({ timeoutMs: 300 });
      expect(rec.to('/events/message_created')).toHaveLength(0);
      h.clock.advanceTo(new Date(h.clock.now().getTime() + 31 * 60_000));
      await h.drain();
      expect(rec.to('/events/message_created')).toHaveLength(1);
    } finally {
      await h2.close();
    }
  });
});
