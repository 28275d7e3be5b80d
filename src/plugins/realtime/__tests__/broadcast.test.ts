/**
 * Broadcasts through the real server: members only, payload limits, dedup keys, the service role's
 * many-room API, ids in commit order per room (what a _stream cursor relies on), pruning, and who reads them.
 */
import { awayFromMinuteEdge, count, errorCode, seedRoom, startRealtime, T, user, type Realtime } from './support/fixture.js';

let rt: Realtime;
beforeAll(async () => {
  rt = await startRealtime('rt_broadcast', { REALTIME_BROADCAST_PER_MINUTE: '100' });
  await seedRoom(rt.pool, 'channel:b1', { ann: 'member', bo: 'member' });
  await seedRoom(rt.pool, 'channel:b2', { ann: 'member', cy: 'member' });
  await seedRoom(rt.pool, 'channel:far', { out: 'member' });
});
afterAll(async () => {
  await rt?.close();
});

const BROADCAST = `mutation ($roomId: String!, $type: String!, $payload: jsonb, $dedupKey: String) {
  realtimeBroadcast(roomId: $roomId, type: $type, payload: $payload, dedupKey: $dedupKey) { id roomId type createdAt duplicate recipientCount } }`;
const MANY = `mutation ($broadcasts: [RealtimeBroadcastInput!]!) {
  realtimeBroadcastMany(broadcasts: $broadcasts) { inserted duplicates recipientCount events { id roomId duplicate } } }`;
const events = () => count(rt.pool, 'SELECT 1 FROM realtime.event');

describe('realtimeBroadcast', () => {
  it('stores an event members read, and an outsider does not', async () => {
    const res = await rt.as('ann', BROADCAST, { roomId: 'channel:b1', type: 'message:new', payload: { text: 'hi', n: 1 } });
    expect(res.errors).toBeUndefined();
    expect(res.data.realtimeBroadcast).toMatchObject({ roomId: 'channel:b1', type: 'message:new', duplicate: false, recipientCount: 2 });
    const id = res.data.realtimeBroadcast.id;
    const forBo = await rt.harness.select('user', user('bo'), T.event, { id: { _eq: id } });
    expect(forBo).toEqual([expect.objectContaining({ room_id: 'channel:b1', type: 'message:new', payload: { text: 'hi', n: 1 }, sender_id: 'ann' })]);
    expect(forBo[0]).not.toHaveProperty('dedup_key');
    expect(await rt.harness.select('user', user('out'), T.event, { room_id: { _eq: 'channel:b1' } })).toEqual([]);
    expect(await rt.harness.select('user', user('cy'), T.event, { room_id: { _eq: 'channel:b1' } })).toEqual([]);
  });

  it('stores a retried broadcast with the same dedup key once', async () => {
    const a = await rt.as('ann', BROADCAST, { roomId: 'channel:b1', type: 'message:new', payload: {}, dedupKey: 'msg-1' });
    const b = await rt.as('ann', BROADCAST, { roomId: 'channel:b1', type: 'message:new', payload: {}, dedupKey: 'msg-1' });
    expect(b.data.realtimeBroadcast).toMatchObject({ id: a.data.realtimeBroadcast.id, duplicate: true });
    expect(await count(rt.pool, `SELECT 1 FROM realtime.event WHERE dedup_key = 'msg-1'`)).toBe(1);
  });

  it('never lets a _stream cursor skip an event: a reader polling id > cursor under concurrent writers sees every id', async () => {
    const before = Number((await rt.pool.query(`SELECT coalesce(max(id), 0) AS m FROM realtime.event`)).rows[0].m);
    const seen = new Set<number>();
    let cursor = before;
    let writing = true;
    // The subscriber's loop: what Hasura's _stream does, one batch after another from the last id seen.
    const reader = (async () => {
      while (writing) {
        const rows = (await rt.pool.query(`SELECT id FROM realtime.event WHERE room_id = 'channel:b1' AND id > $1 ORDER BY id`, [cursor])).rows;
        for (const r of rows) seen.add(Number(r.id));
        if (rows.length) cursor = Number(rows.at(-1)!.id);
      }
    })();
    await Promise.all(Array.from({ length: 60 }, (_, n) => rt.as(n % 2 ? 'ann' : 'bo', BROADCAST, { roomId: 'channel:b1', type: 'tick', payload: { n } })));
    writing = false;
    await reader;
    const all = (await rt.pool.query(`SELECT id FROM realtime.event WHERE room_id = 'channel:b1' AND id > $1 ORDER BY id`, [before])).rows.map((r) => Number(r.id));
    expect(all).toHaveLength(60);
    // Everything at or below the reader's last cursor must have been seen on the way.
    expect(all.filter((id) => id <= cursor && !seen.has(id))).toEqual([]);
  });

  it.each([
    ['a 1 MB payload', { roomId: 'channel:b1', type: 't', payload: { blob: 'x'.repeat(1_000_000) } }, 'realtime/payload-too-large'],
    ['a room the user is not in', { roomId: 'channel:far', type: 't' }, 'realtime/not-a-member'],
    ['an unknown room', { roomId: 'channel:nowhere', type: 't' }, 'realtime/room-not-found'],
    ['a malformed room id', { roomId: 'b1', type: 't' }, 'realtime/invalid-room-id'],
    ['a reserved type', { roomId: 'channel:b1', type: 'member:joined' }, 'realtime/invalid-input'],
    ['an empty type', { roomId: 'channel:b1', type: '' }, 'realtime/invalid-input'],
    ['a type over 100 characters', { roomId: 'channel:b1', type: 't'.repeat(101) }, 'realtime/invalid-input'],
  ])('rejects %s and writes nothing', async (_what, vars, code) => {
    const before = await events();
    const res = await rt.as('ann', BROADCAST, vars);
    expect(errorCode(res)).toBe(code);
    expect(await events()).toBe(before);
  });

  it('lets the service role broadcast to any room, and to a user\'s personal room', async () => {
    const res = await rt.as('service', BROADCAST, { roomId: 'channel:far', type: 'notice', payload: { by: 'app' } });
    expect(res.data.realtimeBroadcast).toMatchObject({ roomId: 'channel:far', duplicate: false, recipientCount: 1 });
    const personal = await rt.as('service', BROADCAST, { roomId: 'user:bo', type: 'notice' });
    expect(personal.data.realtimeBroadcast.recipientCount).toBe(1);
    expect(await rt.harness.select('user', user('bo'), T.event, { room_id: { _eq: 'user:bo' } })).toHaveLength(1);
  });

  it('rejects a wrong type and a missing field before the handler', async () => {
    expect(errorCode(await rt.as('ann', 'mutation { realtimeBroadcast(roomId: "channel:b1", type: 5) { id } }'))).toBe('validation-failed');
    expect(errorCode(await rt.as('ann', 'mutation { realtimeBroadcast(roomId: "channel:b1") { id } }'))).toBe('validation-failed');
  });
});

describe('the per-user broadcast limit', () => {
  it('refuses past REALTIME_BROADCAST_PER_MINUTE with a 429 and Retry-After seconds, and the next window opens', async () => {
    await seedRoom(rt.pool, 'channel:spam', { spammer: 'member' });
    await awayFromMinuteEdge(rt.pool);
    const results = await Promise.all(Array.from({ length: 110 }, (_, n) => rt.as('spammer', BROADCAST, { roomId: 'channel:spam', type: 'spam', payload: { n } })));
    expect(results.filter((r) => !r.errors)).toHaveLength(100);
    const refused = results.filter((r) => r.errors);
    expect(refused.map(errorCode)).toEqual(Array(10).fill('realtime/rate-limited'));
    expect(refused[0]!.errors![0]!.extensions.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(await count(rt.pool, `SELECT 1 FROM realtime.event WHERE room_id = 'channel:spam'`)).toBe(100);
    // Another user is not limited by the spammer's count; the service role is not limited at all.
    await seedRoom(rt.pool, 'channel:spam', { calm: 'member' });
    expect((await rt.as('calm', BROADCAST, { roomId: 'channel:spam', type: 't' })).errors).toBeUndefined();
    await rt.pool.query(`UPDATE realtime.rate_limit SET window_start = window_start - interval '1 minute' WHERE key = 'broadcast:spammer'`);
    expect((await rt.as('spammer', BROADCAST, { roomId: 'channel:spam', type: 'spam' })).errors).toBeUndefined();
    // Counters of ended windows go with the typing prune cron.
    await rt.pool.query(`UPDATE realtime.rate_limit SET window_start = now() - interval '5 minutes' WHERE key = 'broadcast:calm'`);
    await rt.harness.fireCron('realtime_typing_prune');
    expect(await count(rt.pool, `SELECT 1 FROM realtime.rate_limit WHERE key = 'broadcast:calm'`)).toBe(0);
    expect(await count(rt.pool, `SELECT 1 FROM realtime.rate_limit WHERE key = 'broadcast:spammer'`)).toBe(1);
  });
});

describe('realtimeBroadcastMany (service role)', () => {
  it('writes one event per room, counts distinct recipients (ann, bo, cy), and creates personal rooms', async () => {
    const res = await rt.as('service', MANY, {
      broadcasts: [
        { rooms: ['channel:b1', 'channel:b2'], type: 'channel:update', payload: { topic: 'new' }, dedupKey: 'ev-1' },
        { rooms: ['user:cy'], type: 'notification', payload: { n: 1 } },
      ],
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.realtimeBroadcastMany).toMatchObject({ inserted: 3, duplicates: 0, recipientCount: 3 });
    expect(await rt.harness.select('user', user('cy'), T.event, { room_id: { _eq: 'user:cy' } })).toHaveLength(1);
    expect(await rt.harness.select('user', user('ann'), T.event, { room_id: { _eq: 'user:cy' } })).toEqual([]);

    const replay = await rt.as('service', MANY, { broadcasts: [{ rooms: ['channel:b1', 'channel:b2'], type: 'channel:update', payload: { topic: 'new' }, dedupKey: 'ev-1' }] });
    expect(replay.data.realtimeBroadcastMany).toMatchObject({ inserted: 0, duplicates: 2 });
    expect(replay.data.realtimeBroadcastMany.events.map((e: { id: string }) => e.id)).toEqual(res.data.realtimeBroadcastMany.events.slice(0, 2).map((e: { id: string }) => e.id));
  });

  it('writes nothing when one room is unknown', async () => {
    const before = await events();
    const res = await rt.as('service', MANY, { broadcasts: [{ rooms: ['channel:b1', 'channel:ghost'], type: 't' }] });
    expect(errorCode(res)).toBe('realtime/room-not-found');
    expect(res.errors![0]!.extensions!.rooms).toEqual(['channel:ghost']);
    expect(await events()).toBe(before);
  });

  it.each([
    ['too many rooms', { broadcasts: [{ rooms: Array.from({ length: 1001 }, (_, n) => `channel:r${n}`), type: 't' }] }, 'realtime/too-many-rooms'],
    ['a 1 MB payload', { broadcasts: [{ rooms: ['channel:b1'], type: 't', payload: { blob: 'x'.repeat(1_000_000) } }] }, 'realtime/payload-too-large'],
    ['no broadcasts', { broadcasts: [] }, 'realtime/invalid-input'],
    ['a malformed room', { broadcasts: [{ rooms: ['b1'], type: 't' }] }, 'realtime/invalid-input'],
  ])('rejects %s and writes nothing', async (_what, vars, code) => {
    const before = await events();
    expect(errorCode(await rt.as('service', MANY, vars))).toBe(code);
    expect(await events()).toBe(before);
  });

  it('does not exist for users', async () => {
    expect(errorCode(await rt.as('ann', MANY, { broadcasts: [{ rooms: ['channel:b1'], type: 't' }] }))).toBe('validation-failed');
  });
});

describe('realtime_events_prune', () => {
  it('removes events past the retention and keeps the rest', async () => {
    await rt.pool.query(`UPDATE realtime.event SET created_at = now() - interval '4 days' WHERE type = 'tick'`);
    const kept = await count(rt.pool, `SELECT 1 FROM realtime.event WHERE type <> 'tick'`);
    expect((await rt.harness.fireCron('realtime_events_prune')).status).toBe('delivered');
    expect(await count(rt.pool, `SELECT 1 FROM realtime.event WHERE type = 'tick'`)).toBe(0);
    expect(await events()).toBe(kept);
  });
});
