/**
 * Presence and typing through the real server: heartbeats per device folded into one status per user,
 * statuses the user chooses, the expiry cron, typing with its throttle and expiry, and who may read them.
 */
import { count, errorCode, seedRoom, startRealtime, T, user, type Realtime } from './support/fixture.js';

let rt: Realtime;
beforeAll(async () => {
  rt = await startRealtime('rt_presence', { REALTIME_HEARTBEAT_MIN_INTERVAL_MS: '60000', REALTIME_TYPING_MIN_INTERVAL_MS: '60000' });
  await seedRoom(rt.pool, 'channel:team', { ann: 'member', bo: 'member' });
  await seedRoom(rt.pool, 'channel:other', { out: 'member' });
});
afterAll(async () => {
  await rt?.close();
});

const HEARTBEAT = `mutation ($deviceId: String!, $platform: String, $roomId: String, $idle: Boolean) {
  realtimeHeartbeat(deviceId: $deviceId, platform: $platform, roomId: $roomId, idle: $idle) { userId deviceId status currentRoomId lastSeenAt throttled } }`;
const SET_STATUS = `mutation ($status: RealtimeStatus!, $customStatus: String, $customEmoji: String, $clearAfterSeconds: Int) {
  realtimeSetStatus(status: $status, customStatus: $customStatus, customEmoji: $customEmoji, clearAfterSeconds: $clearAfterSeconds) { status customStatus customEmoji } }`;
const START = 'mutation ($roomId: String!, $threadId: String) { realtimeStartTyping(roomId: $roomId, threadId: $threadId) { roomId threadId typing expiresAt throttled } }';
const STOP = 'mutation ($roomId: String!, $threadId: String) { realtimeStopTyping(roomId: $roomId, threadId: $threadId) { typing } }';

const folded = async (viewer: string, who: string) => (await rt.harness.select('user', user(viewer), T.userPresence, { user_id: { _eq: who } }))[0];

describe('presence', () => {
  it('records a heartbeat and throttles the next one without an error or a write', async () => {
    const first = await rt.as('ann', HEARTBEAT, { deviceId: 'laptop', platform: 'web', roomId: 'channel:team' });
    expect(first.errors).toBeUndefined();
    expect(first.data.realtimeHeartbeat).toMatchObject({ userId: 'ann', deviceId: 'laptop', status: 'online', currentRoomId: 'channel:team', throttled: false });
    const seen = (await rt.pool.query(`SELECT last_seen_at FROM realtime.presence WHERE user_id = 'ann'`)).rows[0].last_seen_at;
    const second = await rt.as('ann', HEARTBEAT, { deviceId: 'laptop', platform: 'web', roomId: 'channel:team' });
    expect(second.data.realtimeHeartbeat).toMatchObject({ status: 'online', throttled: true });
    expect((await rt.pool.query(`SELECT last_seen_at FROM realtime.presence WHERE user_id = 'ann'`)).rows[0].last_seen_at).toEqual(seen);
    // A change (idle) is written at once, throttle or not.
    const idle = await rt.as('ann', HEARTBEAT, { deviceId: 'laptop', platform: 'web', roomId: 'channel:team', idle: true });
    expect(idle.data.realtimeHeartbeat).toMatchObject({ status: 'away', throttled: false });
  });

  it('survives a heartbeat storm: every call answers, one write happens', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => rt.as('bo', HEARTBEAT, { deviceId: 'phone', platform: 'ios' })));
    expect(results.filter((r) => r.errors)).toEqual([]);
    expect(results.filter((r) => !r.data.realtimeHeartbeat.throttled)).toHaveLength(1);
    // Calls that raced the first insert still answer the row's state, not an empty one.
    expect(new Set(results.map((r) => r.data.realtimeHeartbeat.status))).toEqual(new Set(['online']));
    expect(await count(rt.pool, `SELECT 1 FROM realtime.presence WHERE user_id = 'bo'`)).toBe(1);
  });

  it('folds devices into one status: dnd over online over away over offline', async () => {
    await rt.as('ann', HEARTBEAT, { deviceId: 'phone' });
    expect(await folded('bo', 'ann')).toMatchObject({ status: 'online', devices_online: 2 });
    const dnd = await rt.as('ann', SET_STATUS, { status: 'dnd', customStatus: 'Focus', customEmoji: '🎧' });
    expect(dnd.data.realtimeSetStatus).toEqual({ status: 'dnd', customStatus: 'Focus', customEmoji: '🎧' });
    // A heartbeat keeps the chosen status, and a new device inherits it.
    await rt.as('ann', HEARTBEAT, { deviceId: 'tablet' });
    const rows = (await rt.pool.query(`SELECT device_id, status, custom_status FROM realtime.presence WHERE user_id = 'ann' ORDER BY device_id`)).rows;
    expect(rows).toEqual([
      { device_id: 'laptop', status: 'dnd', custom_status: 'Focus' },
      { device_id: 'phone', status: 'dnd', custom_status: 'Focus' },
      { device_id: 'tablet', status: 'dnd', custom_status: 'Focus' },
    ]);
    expect(await folded('bo', 'ann')).toMatchObject({ status: 'dnd', custom_status: 'Focus', custom_emoji: '🎧' });
    // Omitted custom fields stay; null clears them.
    await rt.as('ann', SET_STATUS, { status: 'online' });
    expect(await folded('bo', 'ann')).toMatchObject({ status: 'online', custom_status: 'Focus' });
    await rt.as('ann', SET_STATUS, { status: 'online', customStatus: null, customEmoji: null });
    expect(await folded('bo', 'ann')).toMatchObject({ status: 'online', custom_status: null, custom_emoji: null });
  });

  it('goes invisible with offline, and heartbeats keep it', async () => {
    await rt.as('ann', SET_STATUS, { status: 'offline' });
    await rt.pool.query(`UPDATE realtime.presence SET last_seen_at = now() - interval '2 minutes' WHERE user_id = 'ann'`);
    const hb = await rt.as('ann', HEARTBEAT, { deviceId: 'laptop' });
    expect(hb.data.realtimeHeartbeat).toMatchObject({ status: 'offline', throttled: false });
    expect(await folded('bo', 'ann')).toMatchObject({ status: 'offline' });
    await rt.as('ann', SET_STATUS, { status: 'online' });
    expect((await folded('bo', 'ann'))!.status).toBe('online');
  });

  it('hides an expired custom status at once', async () => {
    await rt.as('bo', SET_STATUS, { status: 'online', customStatus: 'Lunch', clearAfterSeconds: 60 });
    expect((await folded('ann', 'bo'))!.custom_status).toBe('Lunch');
    await rt.pool.query(`UPDATE realtime.presence SET custom_status_expires_at = now() - interval '1 second' WHERE user_id = 'bo'`);
    expect((await folded('ann', 'bo'))!.custom_status).toBeNull();
  });

  it('expires silent devices to away, then offline, through the cron (twice is harmless)', async () => {
    await rt.as('cy', HEARTBEAT, { deviceId: 'a' });
    await rt.as('cy', HEARTBEAT, { deviceId: 'b' });
    await rt.pool.query(`UPDATE realtime.presence SET last_seen_at = now() - interval '2 minutes' WHERE user_id = 'cy' AND device_id = 'a'`);
    await rt.pool.query(`UPDATE realtime.presence SET last_seen_at = now() - interval '10 minutes' WHERE user_id = 'cy' AND device_id = 'b'`);
    expect((await rt.harness.fireCron('realtime_presence_expire')).status).toBe('delivered');
    expect((await rt.harness.fireCron('realtime_presence_expire')).status).toBe('delivered');
    const rows = (await rt.pool.query(`SELECT device_id, status FROM realtime.presence WHERE user_id = 'cy' ORDER BY device_id`)).rows;
    expect(rows).toEqual([{ device_id: 'a', status: 'away' }, { device_id: 'b', status: 'offline' }]);
    expect((await folded('cy', 'cy'))!.status).toBe('away');
    // Long-offline devices go, but the user keeps their latest row for "last seen".
    await rt.pool.query(`UPDATE realtime.presence SET status = 'offline', last_seen_at = now() - interval '40 days' WHERE user_id = 'cy' AND device_id = 'a'`);
    await rt.pool.query(`UPDATE realtime.presence SET last_seen_at = now() - interval '41 days' WHERE user_id = 'cy' AND device_id = 'b'`);
    await rt.harness.fireCron('realtime_presence_expire');
    expect((await rt.pool.query(`SELECT device_id FROM realtime.presence WHERE user_id = 'cy'`)).rows).toEqual([{ device_id: 'a' }]);
  });

  it('shows presence only to people who share a room (and to the user)', async () => {
    await rt.as('out', HEARTBEAT, { deviceId: 'x' });
    expect(await folded('out', 'ann')).toBeUndefined();
    expect(await folded('ann', 'out')).toBeUndefined();
    expect(await folded('out', 'out')).toBeDefined();
    expect(await rt.harness.select('user', user('bo'), T.presence, { user_id: { _eq: 'ann' } })).toEqual([]);
    expect(await rt.harness.select('user', user('ann'), T.presence, { user_id: { _eq: 'ann' } })).toHaveLength(3);
  });

  it.each([
    ['an invalid status', SET_STATUS, { status: 'busy' }, 'validation-failed'],
    ['a room the user is not in', HEARTBEAT, { deviceId: 'z', roomId: 'channel:other' }, 'realtime/not-a-member'],
    ['a malformed room', HEARTBEAT, { deviceId: 'z', roomId: 'lobby' }, 'realtime/invalid-room-id'],
    ['a device id over 128 characters', HEARTBEAT, { deviceId: 'd'.repeat(129) }, 'realtime/invalid-input'],
    ['a custom status over 200 characters', SET_STATUS, { status: 'away', customStatus: 's'.repeat(201) }, 'realtime/invalid-input'],
    ['a negative clear time', SET_STATUS, { status: 'away', customStatus: 'x', clearAfterSeconds: -1 }, 'realtime/invalid-input'],
  ])('rejects %s and writes nothing', async (_what, doc, vars, code) => {
    const before = (await rt.pool.query(`SELECT * FROM realtime.presence WHERE user_id = 'dee' ORDER BY device_id`)).rows;
    const res = await rt.as('dee', doc, vars);
    expect(errorCode(res)).toBe(code);
    expect((await rt.pool.query(`SELECT * FROM realtime.presence WHERE user_id = 'dee' ORDER BY device_id`)).rows).toEqual(before);
  });
});

describe('typing', () => {
  it('starts, throttles, renews after expiry and stops, per room and thread', async () => {
    const first = await rt.as('ann', START, { roomId: 'channel:team' });
    expect(first.errors).toBeUndefined();
    expect(first.data.realtimeStartTyping).toMatchObject({ roomId: 'channel:team', threadId: null, typing: true, throttled: false });
    const again = await rt.as('ann', START, { roomId: 'channel:team' });
    expect(again.data.realtimeStartTyping).toMatchObject({ throttled: true, expiresAt: first.data.realtimeStartTyping.expiresAt });
    const thread = await rt.as('ann', START, { roomId: 'channel:team', threadId: 'msg-7' });
    expect(thread.data.realtimeStartTyping).toMatchObject({ threadId: 'msg-7', throttled: false });

    const seenByBo = await rt.harness.select('user', user('bo'), T.typing, { room_id: { _eq: 'channel:team' } }, { orderBy: ['thread_id'] });
    expect(seenByBo.map((r) => [r.user_id, r.thread_id])).toEqual([['ann', 'msg-7'], ['ann', null]]);

    // An expired indicator disappears from the view at once, and the next start is not throttled.
    await rt.pool.query(`UPDATE realtime.typing SET expires_at = now() - interval '1 second' WHERE user_id = 'ann' AND thread_id IS NULL`);
    expect(await rt.harness.select('user', user('bo'), T.typing, { room_id: { _eq: 'channel:team' }, thread_id: { _is_null: true } })).toEqual([]);
    const renewed = await rt.as('ann', START, { roomId: 'channel:team' });
    expect(renewed.data.realtimeStartTyping.throttled).toBe(false);

    const stop = await rt.as('ann', STOP, { roomId: 'channel:team', threadId: 'msg-7' });
    expect(stop.data.realtimeStopTyping.typing).toBe(false);
    expect(await count(rt.pool, `SELECT 1 FROM realtime.typing WHERE user_id = 'ann'`)).toBe(1);
  });

  it('rate-limits a typing storm without errors', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => rt.as('bo', START, { roomId: 'channel:team', threadId: 'storm' })));
    expect(results.filter((r) => r.errors)).toEqual([]);
    expect(results.filter((r) => !r.data.realtimeStartTyping.throttled)).toHaveLength(1);
    expect(results.filter((r) => r.data.realtimeStartTyping.expiresAt === null)).toEqual([]);
  });

  it('shows no typing of a room to an outsider', async () => {
    expect(await rt.harness.select('user', user('out'), T.typing, { room_id: { _eq: 'channel:team' } })).toEqual([]);
  });

  it('prunes expired rows through the cron', async () => {
    await rt.pool.query(`UPDATE realtime.typing SET expires_at = now() - interval '1 second' WHERE thread_id = 'storm'`);
    await rt.harness.fireCron('realtime_typing_prune');
    expect(await count(rt.pool, `SELECT 1 FROM realtime.typing WHERE thread_id = 'storm'`)).toBe(0);
    expect(await count(rt.pool, `SELECT 1 FROM realtime.typing`)).toBeGreaterThan(0);
  });

  it.each([
    ['a room the user is not in', START, { roomId: 'channel:other' }, 'realtime/not-a-member'],
    ['an unknown room', START, { roomId: 'channel:missing' }, 'realtime/room-not-found'],
    ['stopping in a room the user is not in', STOP, { roomId: 'channel:other' }, 'realtime/not-a-member'],
    ['a thread id over 128 characters', START, { roomId: 'channel:team', threadId: 't'.repeat(129) }, 'realtime/invalid-input'],
    ['a wrong type', START, { roomId: ['channel:team'] }, 'validation-failed'],
  ])('rejects %s and writes nothing', async (_what, doc, vars, code) => {
    const before = await count(rt.pool, 'SELECT 1 FROM realtime.typing');
    const res = await rt.as('ann', doc, vars);
    expect(errorCode(res)).toBe(code);
    expect(await count(rt.pool, 'SELECT 1 FROM realtime.typing')).toBe(before);
  });
});
