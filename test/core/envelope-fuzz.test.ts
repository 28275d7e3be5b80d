/**
 * Property-based bad input over the three envelopes, through the real dispatcher and database: whatever
 * arrives, the answer is a 4xx with a message (never a 5xx, never a throw) and nothing is written.
 */
import fc from 'fast-check';
import { createDispatcher, type Dispatch, type Kind } from '../../src/core/dispatch.js';
import { actionEnvelopeSchema, eventEnvelopeSchema, fastActionEnvelope, fastEventEnvelope } from '../../src/core/envelope.js';
import { actionBody, authHeaders, cronBody, eventBody, startTestRuntime, type TestRuntime } from './helpers.js';

let t: TestRuntime;
let dispatch: Dispatch;

beforeAll(async () => {
  t = await startTestRuntime('fuzz');
  dispatch = createDispatcher(t.runtime);
});
afterAll(async () => {
  await t?.close();
});

const ROUTES: Record<Kind, string> = { action: 'demoGreet', event: 'demo_item_created', cron: 'demo_tick' };
const VALID: Record<Kind, () => Record<string, unknown>> = {
  action: () => actionBody({ name: 'Ada' }),
  event: () => eventBody({ id: 1 }, 'fuzz-event'),
  cron: () => cronBody({}, 'fuzz-cron'),
};
/** Paths (as key lists) of fields that must be present with the right type. */
const REQUIRED: Record<Kind, string[][]> = {
  action: [['action'], ['action', 'name'], ['input'], ['input', 'name'], ['session_variables'], ['session_variables', 'x-hasura-role']],
  event: [
    ['id'], ['created_at'], ['trigger'], ['trigger', 'name'], ['table'], ['table', 'schema'], ['table', 'name'],
    ['delivery_info'], ['delivery_info', 'max_retries'], ['delivery_info', 'current_retry'],
    ['event'], ['event', 'op'], ['event', 'data'], ['event', 'data', 'old'], ['event', 'data', 'new'],
  ],
  cron: [['id'], ['scheduled_time']],
};
/** The JSON type each required path holds in a valid body (used to generate a value of another type). */
const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const kinds = fc.constantFrom<Kind>('action', 'event', 'cron');

async function written(): Promise<number> {
  const r = await t.runtime.db.query(
    'select (select count(*) from nself_plugins.event_receipt)::int + (select count(*) from demo.effects)::int as n',
  );
  return r.rows[0]!.n as number;
}

async function expectRejected(kind: Kind, body: string): Promise<void> {
  const r = await dispatch(kind, ROUTES[kind], authHeaders, body);
  if (r.status < 400 || r.status > 499) throw new Error(`status ${r.status} for ${kind} body ${body.slice(0, 300)} → ${r.body}`);
  const parsed = JSON.parse(r.body) as { message?: unknown };
  if (typeof parsed.message !== 'string' || parsed.message.length === 0) throw new Error(`no message for ${body.slice(0, 200)}`);
}

function setPath(obj: Record<string, any>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== 'object') return;
    o = o[k];
  }
  o[path[path.length - 1]!] = value;
}
function deletePath(obj: Record<string, any>, path: string[]): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== 'object') return;
    o = o[k];
  }
  delete o[path[path.length - 1]!];
}
function getPath(obj: Record<string, any>, path: string[]): unknown {
  return path.reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
}

const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string(),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
);

let baseline = 0;
beforeEach(async () => {
  baseline = await written();
});
afterEach(async () => {
  expect(await written()).toBe(baseline);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

const RUNS = { numRuns: 150 };

describe('bad envelopes are always a 4xx with a message, and write nothing', () => {
  it('random JSON values and random text', async () => {
    await fc.assert(
      fc.asyncProperty(kinds, fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'), fc.string({ unit: 'binary', maxLength: 200 })), async (kind, body) => {
        await expectRejected(kind, body);
      }),
      RUNS,
    );
  });

  it('required fields missing', async () => {
    await fc.assert(
      fc.asyncProperty(
        kinds.chain((k) => fc.tuple(fc.constant(k), fc.subarray(REQUIRED[k], { minLength: 1 }))),
        async ([kind, paths]) => {
          const body = VALID[kind]();
          for (const p of paths) deletePath(body, p);
          await expectRejected(kind, JSON.stringify(body));
        },
      ),
      RUNS,
    );
  });

  it('required fields of the wrong type', async () => {
    await fc.assert(
      fc.asyncProperty(
        kinds.chain((k) => fc.tuple(fc.constant(k), fc.constantFrom(...REQUIRED[k]), anyJson)),
        async ([kind, path, value]) => {
          const body = VALID[kind]();
          const original = getPath(body, path);
          fc.pre(typeOf(value) !== typeOf(original) && !(typeOf(original) === 'null' && typeOf(value) === 'object'));
          setPath(body, path, value);
          await expectRejected(kind, JSON.stringify(body));
        },
      ),
      RUNS,
    );
  });

  it('huge and unicode strings in names and ids', async () => {
    const weird = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 50 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 50 }),
      fc.nat({ max: 900_000 }).map((n) => 'é'.repeat(n + 300)),
    );
    await fc.assert(
      fc.asyncProperty(kinds, weird, async (kind, s) => {
        const body = VALID[kind]();
        // The route names a handler; a body naming anything else is rejected whatever the characters.
        if (kind === 'action') setPath(body, ['action', 'name'], s + '\u0000');
        else if (kind === 'event') setPath(body, ['trigger', 'name'], s + '\u0000');
        else setPath(body, ['name'], s + '\u0000');
        await expectRejected(kind, JSON.stringify(body));
      }),
      { numRuns: 60 },
    );
  });

  it('wrong action input: unknown arguments, wrong types, missing name', async () => {
    const input = fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).filter((d) => {
      const keys = Object.keys(d);
      return keys.some((k) => !['name', 'mode', 'id'].includes(k)) || typeof d.name !== 'string';
    });
    await fc.assert(
      fc.asyncProperty(input, async (inp) => {
        await expectRejected('action', JSON.stringify(actionBody(inp)));
      }),
      RUNS,
    );
  });

  it('session variables that are not strings', async () => {
    const notString = anyJson.filter((v) => typeof v !== 'string');
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 20 }), notString, async (key, value) => {
        await expectRejected('action', JSON.stringify(actionBody({ name: 'a' }, { 'x-hasura-role': 'user', [key]: value as unknown as string })));
      }),
      RUNS,
    );
  });

  it('__proto__ and constructor keys anywhere in an otherwise valid body', async () => {
    await fc.assert(
      fc.asyncProperty(
        kinds,
        fc.constantFrom('"__proto__"', '"constructor"', '"\\u005f_proto__"', '"constructo\\u0072"'),
        fc.nat(),
        fc.jsonValue({ maxDepth: 2 }),
        async (kind, key, at, value) => {
          const text = JSON.stringify(VALID[kind]());
          const braces = [...text].flatMap((c, i) => (c === '{' ? [i] : []));
          const i = braces[at % braces.length]!;
          const payload = JSON.stringify({ polluted: true, value });
          const insert = `${key}:${payload}${text[i + 1] === '}' ? '' : ','}`;
          await expectRejected(kind, text.slice(0, i + 1) + insert + text.slice(i + 1));
        },
      ),
      RUNS,
    );
  });
});

describe('valid bodies with unusual content still work', () => {
  it('unicode in action input is accepted (200)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }), async (s) => {
        const r = await dispatch('action', 'demoGreet', authHeaders, JSON.stringify(actionBody({ name: s })));
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).greeting).toBe(`hello ${s}`);
      }),
      { numRuns: 50 },
    );
  });
});

describe('the hand-written fast paths accept nothing the schemas reject', () => {
  const mutate = (base: () => Record<string, unknown>, paths: string[][]) =>
    fc.tuple(fc.subarray(paths), anyJson, fc.boolean()).map(([chosen, value, remove]) => {
      const body = base();
      for (const p of chosen) (remove ? deletePath(body, p) : setPath(body, p, value));
      return body;
    });

  it('action envelopes', () => {
    fc.assert(
      fc.property(fc.oneof(mutate(VALID.action, [...REQUIRED.action, ['request_query']]), anyJson), (body) => {
        const fast = fastActionEnvelope(body);
        const slow = actionEnvelopeSchema.safeParse(body);
        if (fast !== undefined) {
          expect(slow.success).toBe(true);
          expect(fast).toEqual(slow.data);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('retry counts past 2^53 are refused by both (found by this property)', () => {
    const body = { ...VALID.event(), delivery_info: { max_retries: 3, current_retry: 2 ** 53 } };
    expect(eventEnvelopeSchema.safeParse(body).success).toBe(false);
    expect(fastEventEnvelope(body)).toBeUndefined();
  });

  it('event envelopes', () => {
    const ops = fc.constantFrom('INSERT', 'UPDATE', 'DELETE', 'MANUAL', 'TRUNCATE');
    fc.assert(
      fc.property(fc.oneof(mutate(VALID.event, [...REQUIRED.event, ['event', 'session_variables'], ['event', 'trace_context']]), anyJson), ops, (body, op) => {
        if (body && typeof body === 'object' && 'event' in body && (body as any).event && typeof (body as any).event === 'object') (body as any).event.op = op;
        const fast = fastEventEnvelope(body);
        const slow = eventEnvelopeSchema.safeParse(body);
        if (fast !== undefined) {
          expect(slow.success).toBe(true);
          expect(fast).toEqual(slow.data);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
