/**
 * Wrong argument types and missing required arguments for every action: Hasura refuses them before the
 * handler runs (validation-failed, or parse-failed for a uuid given a number), and nothing is written anywhere
 * in the realtime schema. (A single value for a list argument is not wrong: GraphQL coerces it to a list.)
 */
import { errorCode, seedRoom, startRealtime, type Realtime } from './support/fixture.js';

let rt: Realtime;
beforeAll(async () => {
  rt = await startRealtime('rt_bad_input');
  await seedRoom(rt.pool, 'channel:x', { ann: 'member', bo: 'member' });
});
afterAll(async () => {
  await rt?.close();
});

/** Row counts of every realtime table: a refusal must leave them all as they were. */
const counts = async () =>
  (await rt.pool.query(`SELECT (SELECT count(*) FROM realtime.room) r, (SELECT count(*) FROM realtime.room_member) m, (SELECT count(*) FROM realtime.presence) p,
    (SELECT count(*) FROM realtime.typing) t, (SELECT count(*) FROM realtime.event) e, (SELECT count(*) FROM realtime.call) c,
    (SELECT count(*) FROM realtime.call_participant) cp, (SELECT count(*) FROM realtime.signal) s, (SELECT count(*) FROM realtime.rate_limit) rl`)).rows[0];

const CALL = '00000000-0000-4000-8000-000000000001';

describe.each([
  ['realtimeJoinRoom', 'ann', ['mutation { realtimeJoinRoom(roomId: 7) { roomId } }', 'mutation { realtimeJoinRoom { roomId } }', 'mutation { realtimeJoinRoom(roomId: "channel:x", userId: ["bo"]) { roomId } }']],
  ['realtimeLeaveRoom', 'ann', ['mutation { realtimeLeaveRoom(roomId: true) { left } }', 'mutation { realtimeLeaveRoom { left } }']],
  ['realtimeCreateRoom', 'service', ['mutation { realtimeCreateRoom(id: 1) { id } }', 'mutation { realtimeCreateRoom(name: "x") { id } }', 'mutation { realtimeCreateRoom(id: "channel:y", members: [{ role: admin }]) { id } }']],
  ['realtimeDeleteRoom', 'service', ['mutation { realtimeDeleteRoom(id: 1.5) { deleted } }', 'mutation { realtimeDeleteRoom { deleted } }']],
  ['realtimeHeartbeat', 'ann', ['mutation { realtimeHeartbeat(deviceId: 1) { status } }', 'mutation { realtimeHeartbeat { status } }', 'mutation { realtimeHeartbeat(deviceId: "d", idle: "yes") { status } }']],
  ['realtimeSetStatus', 'ann', ['mutation { realtimeSetStatus(status: "away") { status } }', 'mutation { realtimeSetStatus { status } }', 'mutation { realtimeSetStatus(status: away, clearAfterSeconds: "60") { status } }']],
  ['realtimeStartTyping', 'ann', ['mutation { realtimeStartTyping(roomId: null) { typing } }', 'mutation { realtimeStartTyping { typing } }', 'mutation { realtimeStartTyping(roomId: "channel:x", threadId: 5) { typing } }']],
  ['realtimeStopTyping', 'ann', ['mutation { realtimeStopTyping(roomId: 1) { typing } }', 'mutation { realtimeStopTyping { typing } }']],
  ['realtimeBroadcast', 'ann', ['mutation { realtimeBroadcast(roomId: "channel:x", type: {a: 1}) { id } }', 'mutation { realtimeBroadcast(type: "t") { id } }']],
  ['realtimeBroadcastMany', 'service', ['mutation { realtimeBroadcastMany(broadcasts: [{ rooms: "channel:x", type: 1 }]) { inserted } }', 'mutation { realtimeBroadcastMany { inserted } }', 'mutation { realtimeBroadcastMany(broadcasts: [{ type: "t" }]) { inserted } }']],
  ['realtimeStartCall', 'ann', ['mutation { realtimeStartCall(type: "audio", userIds: ["bo"]) { id } }', 'mutation { realtimeStartCall(userIds: ["bo"]) { id } }', 'mutation { realtimeStartCall(type: audio, userIds: [1]) { id } }']],
  ['realtimeAnswerCall', 'bo', ['mutation { realtimeAnswerCall(callId: 1) { id } }', 'mutation { realtimeAnswerCall { id } }']],
  ['realtimeDeclineCall', 'bo', ['mutation { realtimeDeclineCall(callId: true) { id } }', 'mutation { realtimeDeclineCall { id } }']],
  ['realtimeEndCall', 'ann', [`mutation { realtimeEndCall(callId: "${CALL}", reason: 5) { id } }`, 'mutation { realtimeEndCall { id } }']],
  ['realtimeSendSignal', 'ann', [`mutation { realtimeSendSignal(callId: "${CALL}", kind: "offer") { ids } }`, `mutation { realtimeSendSignal(callId: "${CALL}") { ids } }`, `mutation { realtimeSendSignal(callId: "${CALL}", kind: ice, toUserId: 3) { ids } }`]],
  ['realtimeIceServers', 'ann', ['query { realtimeIceServers(ttl: 5) { ttlSeconds } }', 'query { realtimeIceServers { nope } }']],
] as const)('%s', (_action, who, documents) => {
  it.each(documents.map((d) => [d]))('refuses %s before the handler, writing nothing', async (document) => {
    const before = await counts();
    const res = await rt.as(who, document);
    expect(res.data ?? null).toBeNull();
    // parse-failed: Hasura's code for a PostgreSQL scalar (uuid) given a value of the wrong JSON type.
    expect(['validation-failed', 'parse-failed']).toContain(errorCode(res));
    expect(await counts()).toEqual(before);
  });
});
