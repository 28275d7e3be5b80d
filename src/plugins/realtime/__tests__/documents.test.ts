/**
 * The documents the README gives clients: every mutation and query is valid against the composed schema and
 * runs; every subscription's SQL (as Hasura runs it for one subscriber, with the role's permission compiled in)
 * returns exactly the rows the harness's permission engine lets that user read, and has an index path for
 * every table it touches.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REALTIME_DOCUMENTS, subscriberVars, type RealtimeDocument } from '../documents.js';
import { seedRoom, startRealtime, user, type Realtime } from './support/fixture.js';

let rt: Realtime;
let callId: string;

beforeAll(async () => {
  rt = await startRealtime('rt_documents');
  await seedRoom(rt.pool, 'channel:general', { alice: 'owner', bob: 'member', carol: 'member' });
  await seedRoom(rt.pool, 'channel:side', { alice: 'member', dave: 'member' });
  await seedRoom(rt.pool, 'channel:secret', { eve: 'member', bob: 'member' }, true);
  for (const [u, d, s] of [['alice', 'web', 'online'], ['alice', 'phone', 'away'], ['bob', 'web', 'dnd'], ['carol', 'web', 'offline'], ['dave', 'web', 'online'], ['eve', 'web', 'online']]) {
    await rt.pool.query(`INSERT INTO realtime.presence (user_id, device_id, status) VALUES ($1, $2, $3)`, [u, d, s]);
  }
  for (const [room, u] of [['channel:general', 'bob'], ['channel:general', 'carol'], ['channel:secret', 'eve'], ['channel:side', 'dave']]) {
    await rt.pool.query(`INSERT INTO realtime.typing (room_id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 minute')`, [room, u]);
  }
  await rt.pool.query(`INSERT INTO realtime.typing (room_id, user_id, expires_at) VALUES ('channel:general', 'alice', now() - interval '1 second')`);
  for (const room of ['channel:general', 'channel:general', 'channel:secret', 'channel:side']) {
    await rt.pool.query(`INSERT INTO realtime.event (room_id, type, payload, sender_id) VALUES ($1, 'message:new', '{}', 'alice')`, [room]);
  }
  callId = randomUUID();
  await rt.pool.query(`INSERT INTO realtime.call (id, type, state, initiator_id, ring_expires_at) VALUES ($1, 'video', 'ringing', 'alice', now() + interval '1 minute')`, [callId]);
  await rt.pool.query(`INSERT INTO realtime.call_participant (call_id, user_id, role, state) VALUES ($1, 'alice', 'caller', 'joined'), ($1, 'bob', 'callee', 'invited')`, [callId]);
  await rt.pool.query(`INSERT INTO realtime.signal (call_id, from_user_id, to_user_id, kind, payload) VALUES ($1, 'alice', 'bob', 'offer', '{"sdp":"v=0"}'), ($1, 'bob', 'alice', 'answer', '{"sdp":"v=0"}')`, [callId]);
});
afterAll(async () => {
  await rt?.close();
});

const subscriptions = REALTIME_DOCUMENTS.filter((d) => d.kind === 'subscription');
const operations = REALTIME_DOCUMENTS.filter((d) => d.kind !== 'subscription');

/** Variables of a subscription for this test's data. */
const varsFor = (d: RealtimeDocument, me: string): Record<string, unknown> => {
  const v: Record<string, unknown> = { ...d.variables };
  if ('callId' in v) v.callId = callId;
  if ('me' in v) v.me = me;
  if ('userIds' in v) v.userIds = ['alice', 'bob', 'carol', 'dave', 'eve'];
  return v;
};

async function runSubscription(d: RealtimeDocument, me: string, variables: Record<string, unknown>) {
  const r = await rt.pool.query(d.sql!, [[randomUUID()], [subscriberVars(d, me, variables)]]);
  expect(r.rows).toHaveLength(1);
  const root = Object.keys(r.rows[0].result)[0]!;
  return r.rows[0].result[root] as Array<Record<string, unknown>>;
}

describe.each(subscriptions.map((d) => [d.name, d] as const))('subscription %s', (_name, d) => {
  it.each(['alice', 'bob', 'carol', 'dave', 'eve', 'mallory'])('returns exactly what %s may read', async (me) => {
    const variables = varsFor(d, me);
    const rows = await runSubscription(d, me, variables);
    const allowed = await rt.harness.select('user', user(me), d.table!, d.where!(variables));
    const keys = (list: Array<Record<string, unknown>>) => list.map((r) => String(r[d.key!])).sort();
    expect(keys(rows)).toEqual(keys(allowed));
    for (const row of rows) for (const [k, val] of Object.entries(row)) {
      if (typeof val !== 'object' || val === null) {
        const match = allowed.find((a) => String(a[d.key!]) === String(row[d.key!]))!;
        expect(k in match).toBe(true);
      }
    }
  });

  it('has an index path for every table it reads (no sequential scan when one is refused)', async () => {
    const c = await rt.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SET LOCAL enable_seqscan = off');
      const plan = await c.query(`EXPLAIN (FORMAT JSON) ${d.sql}`, [[randomUUID()], [subscriberVars(d, 'alice', varsFor(d, 'alice'))]]);
      const seq: string[] = [];
      const walk = (n: Record<string, any>) => {
        if (n['Node Type'] === 'Seq Scan') seq.push(n['Relation Name']);
        for (const child of n.Plans ?? []) walk(child);
      };
      walk(plan.rows[0]['QUERY PLAN'][0].Plan);
      expect(seq).toEqual([]);
    } finally {
      await c.query('ROLLBACK');
      c.release();
    }
  });
});

describe('subscription details', () => {
  it('onTyping hides expired indicators and onRoomEvents resumes after its cursor', async () => {
    const typing = await runSubscription(subscriptions.find((d) => d.name === 'onTyping')!, 'bob', { roomId: 'channel:general' });
    expect(typing.map((t) => t.user_id).sort()).toEqual(['bob', 'carol']);
    const events = subscriptions.find((d) => d.name === 'onRoomEvents')!;
    const all = await runSubscription(events, 'bob', { roomId: 'channel:general', after: 0 });
    expect(all).toHaveLength(2);
    const rest = await runSubscription(events, 'bob', { roomId: 'channel:general', after: all[0]!.id });
    expect(rest.map((e) => e.id)).toEqual([all[1]!.id]);
  });

  it('onPresenceChange folds devices: alice is online (web) though her phone is away', async () => {
    const rows = await runSubscription(subscriptions.find((d) => d.name === 'onPresenceChange')!, 'bob', { roomId: 'channel:general' });
    expect(rows.map((r) => [r.user_id, r.status])).toEqual([['alice', 'online'], ['bob', 'dnd'], ['carol', 'offline']]);
  });

  it('onIncomingCall carries the call for the callee only', async () => {
    const d = subscriptions.find((x) => x.name === 'onIncomingCall')!;
    const forBob = await runSubscription(d, 'bob', { me: 'bob' });
    expect(forBob).toEqual([{ call_id: callId, call: expect.objectContaining({ id: callId, state: 'ringing', initiator_id: 'alice' }) }]);
    expect(await runSubscription(d, 'carol', { me: 'bob' })).toEqual([]);
  });

  it('onCall lists the participants to participants only', async () => {
    const d = subscriptions.find((x) => x.name === 'onCall')!;
    const forAlice = await runSubscription(d, 'alice', { callId });
    expect((forAlice[0]!.participants as Array<{ user_id: string }>).map((p) => p.user_id).sort()).toEqual(['alice', 'bob']);
    expect(await runSubscription(d, 'carol', { callId })).toEqual([]);
  });
});

describe('mutations and queries', () => {
  it.each(operations.map((d) => [d.name, d] as const))('%s is valid against the schema and runs', async (_name, d) => {
    const variables = { ...d.variables, ...('callId' in d.variables ? { callId } : {}) };
    const res = await rt.harness.graphql(d.document, variables, user('alice'));
    const code = (res.errors?.[0]?.extensions as { code?: string } | undefined)?.code;
    // Valid and routed to the handler: no error, or the handler's own (an unknown call id, say).
    expect(code === undefined || code.startsWith('realtime/')).toBe(true);
  });
});

describe('the README', () => {
  it('shows every document exactly as documents.ts has it', () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8');
    const missing = REALTIME_DOCUMENTS.filter((d) => !readme.includes('```graphql\n' + d.document + '\n```')).map((d) => d.name);
    expect(missing).toEqual([]);
  });
});
