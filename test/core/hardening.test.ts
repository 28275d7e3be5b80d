/**
 * What outside testing found in the server and the dispatcher, fixed for every plugin at once: text the
 * database cannot store or would change, PostgreSQL data errors, roles, unauthenticated bodies, timeouts,
 * the connection cap, the event body limit, and secrets or inputs in logs. Real PostgreSQL, Redis and HTTP.
 */
import net from 'node:net';
import { z } from 'zod';
import { definePlugin, type PluginManifest } from '../../src/core/plugin.js';
import { createServer, type NselfServer } from '../../src/core/server.js';
import { createRuntime } from '../../src/core/runtime.js';
import { captureLog, SECRET, startTestRuntime, type TestRuntime } from './helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379/7';

const GUARD_SDL = `
extend type Mutation {
  guardStore(note: String, data: jsonb, amount: Float): GuardResult!
  guardLookup(id: String!): GuardResult!
  guardAdminOnly: GuardResult!
  guardCrash(note: String!): GuardResult!
}
type GuardResult { ok: Boolean! }
`;

function guardPlugin(): PluginManifest {
  return definePlugin({
    name: 'guard',
    version: '1.0.0',
    description: 'hardening test plugin',
    actions: {
      guardStore: {
        permissions: ['user'],
        handler: async (input: { note?: string; data?: unknown }, ctx) => {
          await ctx.db.query('insert into guard.notes (note, data) values ($1, $2)', [input.note ?? null, JSON.stringify(input.data ?? null)]);
          return { ok: true };
        },
      },
      guardLookup: {
        permissions: ['user'],
        // The id goes to PostgreSQL unchecked: its data exception must become a 400, not a 500.
        handler: async (input: { id: string }, ctx) => {
          await ctx.db.query('select $1::uuid', [input.id]);
          return { ok: true };
        },
      },
      guardAdminOnly: { permissions: [], handler: async () => ({ ok: true }) },
      guardCrash: {
        permissions: ['user'],
        handler: async (input: { note: string }) => {
          throw Object.assign(new Error(`failed while handling ${'x'.repeat(5000)}`), { data: input, detail: input.note.repeat(100) });
        },
      },
    },
    tables: [
      {
        table: { schema: 'guard', name: 'rows' },
        event_triggers: [
          {
            name: 'guard_row_created',
            definition: { insert: { columns: '*' } },
            handler: async (event, ctx) => {
              const row = event.event.data.new as { id: string; note?: string; kind?: string };
              if (row.kind === 'zod') z.object({ note: z.string().min(50) }).parse(row);
              await ctx.once(event.id, (tx) => tx.query('insert into guard.effects (id, note) values ($1::uuid, $2)', [row.id, row.note ?? null]));
            },
          },
        ],
      },
    ],
    crons: {
      guard_tick: {
        schedule: '* * * * *',
        handler: async (cron, ctx) => {
          await ctx.once(cron.id, (tx) => tx.query('insert into guard.effects (id, note) values (gen_random_uuid(), $1)', [JSON.stringify(cron.payload)]));
        },
      },
    },
  });
}

let t: TestRuntime;
let server: NselfServer;
let base: string;

beforeAll(async () => {
  t = await startTestRuntime(
    'hardening',
    {
      REDIS_URL,
      BODY_LIMIT_BYTES: '2048',
      EVENT_BODY_LIMIT_BYTES: '8192',
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_REQUEST_TIMEOUT_MS: '3000',
      HTTP_MAX_CONNECTIONS: '20',
    },
    { plugins: [guardPlugin()], actionsSdl: (p) => (p === 'guard' ? GUARD_SDL : undefined) },
  );
  await t.runtime.db.query(
    'create schema guard; create table guard.notes (id serial primary key, note text, data jsonb); create table guard.effects (id uuid primary key, note text)',
  );
  server = createServer(t.runtime, { closeRuntime: false });
  base = (await server.listen(0, '127.0.0.1')).url;
});
afterAll(async () => {
  await server?.shutdown('test done');
  await t?.close();
});

const headers = { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET };

async function post(path: string, body: string | Buffer, extra: Record<string, string> = {}) {
  const res = await fetch(base + path, { method: 'POST', headers: { ...headers, ...extra }, body });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, any>, headers: res.headers };
}

const action = (name: string, input: Record<string, unknown>, role = 'user') =>
  JSON.stringify({ action: { name }, input, session_variables: { 'x-hasura-role': role, 'x-hasura-user-id': '42' }, request_query: `mutation { ${name} { ok } }` });

let seq = 0;
const eventId = () => `5d3f${(++seq).toString(16).padStart(4, '0')}-2fa1-11d2-883f-0016d3cca427`;
const event = (id: string, row: Record<string, unknown> | string) =>
  `{"id":"${id}","created_at":"2024-05-01T22:00:00.123456","trigger":{"name":"guard_row_created"},"table":{"schema":"guard","name":"rows"},` +
  `"delivery_info":{"max_retries":3,"current_retry":0},"event":{"op":"INSERT","data":{"old":null,"new":${typeof row === 'string' ? row : JSON.stringify(row)}},"session_variables":{"x-hasura-role":"admin"},"trace_context":null}}`;

const notes = async () => Number((await t.runtime.db.query<{ count: string }>('select count(*) from guard.notes')).rows[0]!.count);
const receipt = async (key: string) =>
  (await t.runtime.db.query('select status, reason from nself_plugins.event_receipt where key = $1', [key])).rows[0] as { status: string; reason: string } | undefined;

describe('text the database cannot store, or would change', () => {
  // Raw JSON text, so the escapes reach the server exactly as a client wrote them.
  const cases: Array<[string, string, string]> = [
    ['U+0000 in a text argument', '{"note":"a\\u0000b"}', 'input.note: text contains U+0000'],
    ['U+0000 deep in jsonb', '{"data":{"list":[1,{"k":"\\u0000"}]}}', 'input.data.list[1].k: text contains U+0000'],
    ['U+0000 in a jsonb key', '{"data":{"a\\u0000":1}}', 'key contains U+0000'],
    ['a lone surrogate', '{"note":"\\ud800x"}', 'input.note: text contains a lone UTF-16 surrogate'],
    ['a lone low surrogate in jsonb', '{"data":["\\udfff"]}', 'input.data[0]: text contains a lone UTF-16 surrogate'],
    ['1e309 in jsonb', '{"data":{"n":1e309}}', 'input.data.n: number is too large'],
    ['-1e309 as a Float', '{"amount":-1e309}', 'input.amount: number is too large'],
    ['a 400-digit number', `{"data":${'9'.repeat(400)}}`, 'input.data: number is too large'],
  ];
  it.each(cases)('action: %s is a 400 and stores nothing', async (_label, input, message) => {
    const before = await notes();
    const body = `{"action":{"name":"guardStore"},"input":${input},"session_variables":{"x-hasura-role":"user"},"request_query":null}`;
    const r = await post('/actions/guardStore', body);
    expect(r.status).toBe(400);
    expect(r.json.extensions.code).toBe('invalid-input');
    expect(r.json.message).toContain(message);
    expect(await notes()).toBe(before);
  });

  it('action: bytes that are not UTF-8 are a 400, not text with U+FFFD', async () => {
    const before = await notes();
    const body = Buffer.concat([Buffer.from('{"action":{"name":"guardStore"},"input":{"note":"a'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"},"session_variables":{"x-hasura-role":"user"}}')]);
    const r = await post('/actions/guardStore', body);
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('(body): is not valid UTF-8');
    expect(await notes()).toBe(before);
  });

  it('action: valid escapes, surrogate pairs, big finite numbers and "1e309" as text pass unchanged', async () => {
    const r = await post('/actions/guardStore', action('guardStore', { note: 'é \u00e9 😀 \t', data: { n: 1e308, s: '1e309', d: '9'.repeat(20) }, amount: 1.5e300 }));
    expect(r.status).toBe(200);
    const row = (await t.runtime.db.query('select note, data from guard.notes order by id desc limit 1')).rows[0];
    expect(row).toEqual({ note: 'é é 😀 \t', data: { n: 1e308, s: '1e309', d: '9'.repeat(20) } });
  });

  it.each([
    ['U+0000 in a column', '{"id":"ID","note":"a\\u0000"}', 'event.data.new.note: text contains U+0000'],
    ['a lone surrogate', '{"id":"ID","note":"\\udbff"}', 'event.data.new.note: text contains a lone UTF-16 surrogate'],
    ['1e309', '{"id":"ID","amount":1e309}', 'event.data.new.amount: number is too large'],
  ])('event: %s is skipped with the reason recorded, without running the handler', async (_label, row, reason) => {
    const id = eventId();
    const r = await post('/events/guard_row_created', event(id, row.replace('ID', id)));
    expect(r.status).toBe(200);
    expect(r.json.skipped).toContain(reason);
    expect(await receipt(id)).toEqual({ status: 'skipped', reason: expect.stringContaining(reason) });
    expect((await t.runtime.db.query('select 1 from guard.effects where id = $1', [id])).rowCount).toBe(0);
  });

  it('event: bytes that are not UTF-8 are skipped with the reason', async () => {
    const id = eventId();
    const [head, tail] = event(id, { id, note: 'SPLIT' }).split('SPLIT');
    const r = await post('/events/guard_row_created', Buffer.concat([Buffer.from(head!), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(tail!)]));
    expect(r.status).toBe(200);
    expect((await receipt(id))?.reason).toContain('not valid UTF-8');
  });

  it('cron: U+0000 in the payload is skipped with the reason', async () => {
    const id = `cron-${eventId()}`;
    const r = await post('/cron/guard_tick', `{"id":"${id}","name":"guard_tick","scheduled_time":"2024-05-01T22:00:00Z","payload":{"a":"\\u0000"}}`);
    expect(r.status).toBe(200);
    expect((await receipt(id))?.reason).toContain('payload.a: text contains U+0000');
  });
});

describe('PostgreSQL data errors from any handler', () => {
  it('action: 22P02 (not a uuid) is a 400 invalid-input naming the problem, not a 500', async () => {
    const r = await post('/actions/guardLookup', action('guardLookup', { id: 'not-a-uuid' }));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ message: 'invalid value: invalid input syntax for type uuid: "not-a-uuid"', extensions: { code: 'invalid-input', sqlState: '22P02' } });
  });

  it('event: a non-UUID id in the row is skipped with the reason, once, and redelivery changes nothing', async () => {
    const id = eventId();
    for (let i = 0; i < 2; i++) {
      const r = await post('/events/guard_row_created', event(id, { id: 'row-7', note: 'x' }));
      expect(r.status).toBe(200);
      expect(r.json.skipped).toContain('invalid input syntax for type uuid');
    }
    expect(await receipt(id)).toEqual({ status: 'skipped', reason: expect.stringContaining('value refused by PostgreSQL') });
  });

  it('event: a row the handler\'s schema refuses is skipped with the reason', async () => {
    const id = eventId();
    const r = await post('/events/guard_row_created', event(id, { id, kind: 'zod', note: 'short' }));
    expect(r.status).toBe(200);
    expect((await receipt(id))?.reason).toContain('invalid row: note:');
  });

  it('event: a good row still has its effect', async () => {
    const id = eventId();
    const r = await post('/events/guard_row_created', event(id, { id, note: 'fine' }));
    expect(r.json).toEqual({ ok: true });
    expect((await t.runtime.db.query('select note from guard.effects where id = $1', [id])).rows).toEqual([{ note: 'fine' }]);
  });
});

describe('roles from the metadata permissions', () => {
  it('403 for a role the action does not grant; admin always allowed; granted roles allowed', async () => {
    const denied = await post('/actions/guardAdminOnly', action('guardAdminOnly', {}, 'user'));
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ message: 'role "user" may not call guardAdminOnly (allowed: admin)', extensions: { code: 'forbidden' } });
    expect((await post('/actions/guardAdminOnly', action('guardAdminOnly', {}, 'admin'))).status).toBe(200);
    expect((await post('/actions/guardStore', action('guardStore', {}, 'anonymous'))).status).toBe(403);
    expect((await post('/actions/guardStore', action('guardStore', {}, 'user'))).status).toBe(200);
  });

  it('the role is checked before the input: a forbidden caller learns nothing about it', async () => {
    const r = await post('/actions/guardAdminOnly', action('guardAdminOnly', { unknown: 1 }, 'user'));
    expect(r.status).toBe(403);
  });
});

/** Sends raw bytes and resolves with what the server answered, once it closes the connection or after `ms`. */
function raw(bytes: string, ms = 5000): Promise<{ text: string; closed: boolean; elapsed: number }> {
  const { port } = new URL(base);
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, elapsed: Date.now() - started });
    }, ms);
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, elapsed: Date.now() - started });
    });
  });
}

describe('unauthenticated callers, timeouts and the connection cap', () => {
  it('401 as soon as the headers arrive, without waiting for a declared 50 MB body, and the connection closes', async () => {
    const r = await raw('POST /events/guard_row_created HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"id":');
    expect(r.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.text).toContain('missing or wrong x-nself-plugins-secret header');
    expect(r.closed).toBe(true);
  });

  it('401 also for a wrong secret of the right length, and 404 for an unknown route before the body', async () => {
    const wrong = 'x'.repeat(SECRET.length);
    const r = await raw(`POST /actions/guardStore HTTP/1.1\r\nHost: x\r\nx-nself-plugins-secret: ${wrong}\r\nContent-Length: 1000\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 401 /);
    const n = await raw(`POST /actions/nope HTTP/1.1\r\nHost: x\r\nx-nself-plugins-secret: ${SECRET}\r\nContent-Length: 1000\r\n\r\n`);
    expect(n.text).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('a client that never finishes its headers is cut off (HTTP_HEADERS_TIMEOUT_MS)', async () => {
    const r = await raw('POST /actions/guardStore HTTP/1.1\r\nHost: x\r\n', 8000);
    expect(r.closed).toBe(true);
    expect(r.elapsed).toBeLessThan(8000);
  });

  it('a client that never finishes its body is cut off (HTTP_REQUEST_TIMEOUT_MS)', async () => {
    const r = await raw(`POST /actions/guardStore HTTP/1.1\r\nHost: x\r\nx-nself-plugins-secret: ${SECRET}\r\nContent-Length: 500\r\n\r\n{"action":`, 10_000);
    expect(r.closed).toBe(true);
    expect(r.elapsed).toBeLessThan(10_000);
  });

  it('the settings reach the listener', () => {
    expect(server.http.headersTimeout).toBe(1000);
    expect(server.http.requestTimeout).toBe(3000);
    expect(server.http.keepAliveTimeout).toBe(65_000);
    expect(server.http.maxConnections).toBe(20);
  });

  it('connections over HTTP_MAX_CONNECTIONS are closed at once; the server keeps serving', async () => {
    const { port } = new URL(base);
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const s = net.connect(Number(port), '127.0.0.1');
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      // Let the server accept all twenty before the extra one.
      await new Promise((r) => setTimeout(r, 200));
      const extra = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`, 3000);
      expect(extra.closed).toBe(true);
      expect(extra.text).toBe('');
    } finally {
      for (const s of held) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(base + '/healthz')).status).toBe(200);
  });
});

describe('body limits per kind', () => {
  it('an event larger than the action limit is accepted; one over EVENT_BODY_LIMIT_BYTES is a 413 logged as an error', async () => {
    const id = eventId();
    const ok = await post('/events/guard_row_created', event(id, { id, note: 'n'.repeat(4000) }));
    expect(ok.status).toBe(200);
    const big = eventId();
    const refused = await post('/events/guard_row_created', event(big, { id: big, note: 'n'.repeat(9000) }));
    expect(refused.status).toBe(413);
    expect(refused.json.extensions.code).toBe('payload-too-large');
    const line = t.logs.lines().find((l) => l.level === 50 && String(l.msg).includes('REFUSED'));
    expect(line).toMatchObject({ kind: 'event', name: 'guard_row_created', limit: 8192 });
    expect(String(line!.msg)).toContain('EVENT_BODY_LIMIT_BYTES');
  });

  it('an action over BODY_LIMIT_BYTES is a 413', async () => {
    const r = await post('/actions/guardStore', action('guardStore', { note: 'n'.repeat(3000) }));
    expect(r.status).toBe(413);
  });
});

describe('secrets and inputs in logs', () => {
  it('a failing handler is logged without its input, with bounded text', async () => {
    const marker = 'personal-data-marker';
    const r = await post('/actions/guardCrash', action('guardCrash', { note: marker }));
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ message: 'internal error', extensions: { code: 'internal' } });
    const line = t.logs.lines().find((l) => l.msg === 'handler failed' && l.name === 'guardCrash')!;
    expect(line).toBeDefined();
    const text = JSON.stringify(line);
    expect(text.split(marker).length - 1).toBeLessThanOrEqual(Math.ceil(200 / marker.length));
    expect((line.err as { data?: unknown }).data).toBeUndefined();
    expect(text.length).toBeLessThan(8000);
  });

  it('the boot log shows DATABASE_URL without its password', async () => {
    const logs = captureLog();
    const url = new URL(t.db.url);
    url.username = 'postgres';
    url.password = 'boot-log-password-1234';
    const runtime = await createRuntime(
      { DATABASE_URL: url.toString(), REDIS_URL, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
      { plugins: [], log: logs.log, defaultMetrics: false, migrate: false },
    );
    await runtime.close();
    expect(logs.text()).not.toContain('boot-log-password-1234');
    expect(logs.text()).not.toContain(SECRET);
    const config = logs.lines().find((l) => l.msg === 'configuration')!.config as Record<string, string>;
    expect(config.DATABASE_URL).toBe(`postgres://postgres:[redacted]@${url.host}${url.pathname}`);
  });
});
