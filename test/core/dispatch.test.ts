import { createDispatcher, type Dispatch } from '../../src/core/dispatch.js';
import { SECRET, UUID, actionBody, authHeaders, cronBody, eventBody, startTestRuntime, type TestRuntime } from './helpers.js';

let t: TestRuntime;
let dispatch: Dispatch;

beforeAll(async () => {
  t = await startTestRuntime('dispatch');
  dispatch = createDispatcher(t.runtime);
});
afterAll(async () => {
  await t?.close();
});

const call = async (kind: 'action' | 'event' | 'cron', name: string, body: unknown, headers: Record<string, string> = authHeaders) => {
  const r = await dispatch(kind, name, headers, typeof body === 'string' ? body : JSON.stringify(body));
  return { ...r, json: JSON.parse(r.body) as Record<string, any> };
};
const receipts = async () =>
  (await t.runtime.db.query('select kind, handler, key, status, reason from nself_plugins.event_receipt order by created_at, key')).rows;
const effects = async (key: string) => (await t.runtime.db.query('select note from demo.effects where key = $1', [key])).rows;

describe('secret, routing and body checks', () => {
  it('401 without the secret, with a wrong one, or with it repeated', async () => {
    for (const headers of [{}, { 'x-nself-plugins-secret': SECRET + 'x' }, { 'x-nself-plugins-secret': 'short' }] as Array<Record<string, string>>) {
      const r = await call('action', 'demoGreet', actionBody({ name: 'a' }), headers);
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ message: 'missing or wrong x-nself-plugins-secret header', extensions: { code: 'unauthorized' } });
    }
    const repeated = await dispatch('action', 'demoGreet', { 'x-nself-plugins-secret': [SECRET, SECRET] }, JSON.stringify(actionBody({ name: 'a' })));
    expect(repeated.status).toBe(401);
  });

  it('404 for an unknown name of each kind', async () => {
    for (const kind of ['action', 'event', 'cron'] as const) {
      const r = await call(kind, 'nope', {});
      expect(r.status).toBe(404);
      expect(r.json.extensions.code).toBe('not-found');
    }
  });

  it('400 when the route name and the body name differ', async () => {
    expect((await call('action', 'demoGreet', actionBody({ name: 'a' }, undefined, 'other'))).json.message).toBe(
      'action.name "other" does not match the route /actions/demoGreet',
    );
    const ev = await call('event', 'demo_item_created', eventBody({}, 'e-mismatch', 'other_trigger'));
    expect(ev.status).toBe(400);
    expect(ev.json.message).toContain('trigger.name "other_trigger" does not match');
    const cr = await call('cron', 'demo_tick', cronBody({}, 'c-mismatch', 'other_cron'));
    expect(cr.status).toBe(400);
  });

  it('400 for non-JSON and 413 over the body limit', async () => {
    const bad = await call('action', 'demoGreet', 'not json');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toBe('request body is not valid JSON');
    const big = await call('action', 'demoGreet', actionBody({ name: 'x'.repeat(t.runtime.core.BODY_LIMIT_BYTES) }));
    expect(big.status).toBe(413);
    expect(big.json.extensions.code).toBe('payload-too-large');
  });

  it('echoes a well-formed x-request-id and generates one otherwise', async () => {
    const r = await dispatch('action', 'demoGreet', { ...authHeaders, 'x-request-id': 'req-123' }, JSON.stringify(actionBody({ name: 'a' })));
    expect(r.headers['x-request-id']).toBe('req-123');
    const g = await dispatch('action', 'demoGreet', { ...authHeaders, 'x-request-id': 'bad id\n' }, JSON.stringify(actionBody({ name: 'a' })));
    expect(g.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('actions', () => {
  it('200 with the handler output; session and plugin config reach the handler', async () => {
    const r = await call('action', 'demoGreet', actionBody({ name: 'Ada' }, { 'X-Hasura-Role': 'user', 'X-Hasura-User-Id': '7' }));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    expect(r.json).toEqual({ greeting: 'hello Ada', role: 'user', userId: '7', first: null });
  });

  it('400 with a precise message for input that does not match the SDL', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'input.name: required argument of demoGreet is missing'],
      [{ name: 1 }, 'input.name: String cannot represent a non string value: 1'],
      [{ name: 'a', mode: 'LOUD' }, 'input.mode: Value "LOUD" does not exist in "DemoMode" enum'],
      [{ name: 'a', extra: true }, 'input.extra: unknown argument of demoGreet (takes name, mode, id)'],
      [{ name: 'a', id: 5 }, 'input.id: expected a string for uuid'],
    ];
    for (const [input, message] of cases) {
      const r = await call('action', 'demoGreet', actionBody(input));
      expect(r.status).toBe(400);
      expect(r.json.extensions).toEqual({ code: 'invalid-input' });
      expect(r.json.message.startsWith(message)).toBe(true);
    }
  });

  it("ActionError → its 4xx status, message and extensions", async () => {
    const r = await call('action', 'demoGreet', actionBody({ name: 'a', mode: 'CLIENT_ERROR' }));
    expect(r.status).toBe(403);
    expect(r.json).toEqual({ message: 'not allowed', extensions: { field: 'name', code: 'demo/forbidden' } });
  });

  it("a handler's own zod check failing → 400, not 500", async () => {
    const r = await call('action', 'demoGreet', actionBody({ name: 'a', mode: 'ZOD' }));
    expect(r.status).toBe(400);
    expect(r.json.extensions.code).toBe('invalid-input');
    expect(r.json.message).toContain('input.name');
  });

  it('an unexpected error → 500 "internal error", logged with its stack, never in the body', async () => {
    const r = await call('action', 'demoGreet', actionBody({ name: 'a', mode: 'CRASH' }));
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ message: 'internal error', extensions: { code: 'internal' } });
    expect(r.body).not.toContain('secret internal detail');
    const line = t.logs.lines().find((l) => l.msg === 'handler failed' && (l.err as { message?: string })?.message === 'secret internal detail');
    expect((line?.err as { stack?: string }).stack).toContain('secret internal detail');
    expect(line?.requestId).toBe(r.headers['x-request-id']);
  });

  it('ctx.once works from an action, keyed per action', async () => {
    const first = await call('action', 'demoGreet', actionBody({ name: 'a', mode: 'ONCE', id: UUID }));
    const second = await call('action', 'demoGreet', actionBody({ name: 'a', mode: 'ONCE', id: UUID }));
    expect([first.json.first, second.json.first]).toEqual([true, false]);
    expect(await effects(UUID)).toHaveLength(1);
  });
});

describe('events and crons', () => {
  it('done → 200 {ok:true}, the effect and its receipt committed together', async () => {
    const body = eventBody({ id: 1 }, 'evt-done');
    const r = await call('event', 'demo_item_created', body);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true });
    expect(await effects('evt-done')).toHaveLength(1);
    // A redelivery is acknowledged without repeating the effect.
    expect((await call('event', 'demo_item_created', body)).status).toBe(200);
    expect(await effects('evt-done')).toHaveLength(1);
    expect((await receipts()).filter((x) => x.key === 'evt-done')).toEqual([
      { kind: 'event', handler: 'demo_item_created', key: 'evt-done', status: 'done', reason: null },
    ]);
  });

  it("binds plugin, request id, handler and event id on the handler's ctx.log", async () => {
    const r = await dispatch('event', 'demo_item_created', { ...authHeaders, 'x-request-id': 'req-evt-log' }, JSON.stringify(eventBody({ id: 2 }, 'evt-log')));
    expect(r.status).toBe(200);
    const line = t.logs.lines().find((l) => l.msg === 'delivered' && l.key === 'evt-log');
    expect(line).toMatchObject({ plugin: 'demo', requestId: 'req-evt-log', kind: 'event', name: 'demo_item_created', eventId: 'evt-log' });
  });

  it('skipped (returned or thrown) → 200 {skipped} and a receipt with the reason', async () => {
    const a = await call('event', 'demo_item_created', eventBody({ behaviour: 'skip' }, 'evt-skip'));
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ skipped: 'nothing to do for this row' });
    const b = await call('cron', 'demo_tick', cronBody({ behaviour: 'skip-throw' }, 'cron-skip'));
    expect(b.json).toEqual({ skipped: 'row is archived' });
    const rows = (await receipts()).filter((x) => x.status === 'skipped');
    expect(rows).toEqual(
      expect.arrayContaining([
        { kind: 'event', handler: 'demo_item_created', key: 'evt-skip', status: 'skipped', reason: 'nothing to do for this row' },
        { kind: 'cron', handler: 'demo_tick', key: 'cron-skip', status: 'skipped', reason: 'row is archived' },
      ]),
    );
    expect(await effects('evt-skip')).toHaveLength(0);
  });

  it('a redelivery after a skip runs the effect and upgrades the receipt', async () => {
    await call('event', 'demo_item_created', eventBody({ behaviour: 'skip' }, 'evt-skip-then-do'));
    const r = await call('event', 'demo_item_created', eventBody({ behaviour: 'ok' }, 'evt-skip-then-do'));
    expect(r.json).toEqual({ ok: true });
    expect(await effects('evt-skip-then-do')).toHaveLength(1);
    expect((await receipts()).find((x) => x.key === 'evt-skip-then-do')).toMatchObject({ status: 'done', reason: null });
  });

  it('RetryableError → 503 with Retry-After when given, without when not', async () => {
    const a = await call('event', 'demo_item_created', eventBody({ behaviour: 'retry' }, 'evt-retry'));
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('7');
    expect(a.json).toEqual({ message: 'provider rate-limited', extensions: { code: 'retryable' } });
    const b = await call('cron', 'demo_tick', cronBody({ behaviour: 'retry-no-after' }, 'cron-retry'));
    expect(b.status).toBe(503);
    expect(b.headers['retry-after']).toBeUndefined();
    expect((await receipts()).some((x) => x.key === 'evt-retry' || x.key === 'cron-retry')).toBe(false);
  });

  it('other errors → 500 without details, nothing recorded', async () => {
    const r = await call('cron', 'demo_tick', cronBody({ behaviour: 'crash' }, 'cron-crash'));
    expect(r.status).toBe(500);
    expect(r.body).not.toContain('hunter2');
    expect((await receipts()).some((x) => x.key === 'cron-crash')).toBe(false);
  });

  it('crons run with no session; one-off scheduled events (no name) are accepted', async () => {
    const { name: _, ...oneOff } = cronBody({}, 'one-off-1');
    const r = await call('cron', 'demo_tick', oneOff);
    expect(r.status).toBe(200);
    expect(await effects('one-off-1')).toHaveLength(1);
  });

  it('a bad envelope is a 400 naming the field and writes nothing', async () => {
    const before = (await receipts()).length;
    const body = eventBody({ id: 1 }, 'evt-bad') as Record<string, any>;
    body.event.op = 'TRUNCATE';
    const r = await call('event', 'demo_item_created', body);
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('event.op');
    expect((await receipts()).length).toBe(before);
  });
});

describe('metrics', () => {
  it('records latency per handler and status, and errors per class', async () => {
    const text = await t.runtime.metrics.registry.metrics();
    expect(text).toMatch(/nself_plugins_handler_duration_seconds_count\{kind="action",name="demoGreet",status="200"\} \d+/);
    expect(text).toMatch(/nself_plugins_handler_duration_seconds_count\{kind="event",name="demo_item_created",status="503"\} 1/);
    expect(text).toMatch(/nself_plugins_handler_errors_total\{kind="action",name="demoGreet",class="internal"\} 1/);
    expect(text).toMatch(/nself_plugins_handler_errors_total\{kind="action",name="\(unmatched\)",class="client"\} \d+/);
  });
});
