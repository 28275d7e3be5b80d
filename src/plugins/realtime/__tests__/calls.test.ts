/**
 * Calls and signaling through the real server: the state machine (answer, decline, cancel, end, busy,
 * time-out), signals reaching only their addressee, and every refusal leaving the rows as they were.
 */
import { count, errorCode, seedRoom, startRealtime, T, user, type Realtime } from './support/fixture.js';

let rt: Realtime;
beforeAll(async () => {
  rt = await startRealtime('rt_calls', { REALTIME_CALL_MAX_PARTICIPANTS: '4', REALTIME_SIGNAL_MAX_BYTES: '4096' });
  await seedRoom(rt.pool, 'channel:c', { amy: 'member', ben: 'member', cal: 'member', dan: 'member' });
  await seedRoom(rt.pool, 'channel:big', Object.fromEntries(['amy', 'u1', 'u2', 'u3', 'u4'].map((u) => [u, 'member' as const])));
  await seedRoom(rt.pool, 'channel:solo', { zoe: 'member' });
});
afterAll(async () => {
  await rt?.close();
});

const CALL_FIELDS = 'id type state roomId initiatorId endReason endedBy durationSeconds answeredAt participants { userId role state audioMuted videoEnabled screenSharing }';
const START = `mutation ($type: RealtimeCallType!, $userIds: [String!], $roomId: String) { realtimeStartCall(type: $type, userIds: $userIds, roomId: $roomId) { ${CALL_FIELDS} } }`;
const ANSWER = `mutation ($callId: uuid!) { realtimeAnswerCall(callId: $callId) { ${CALL_FIELDS} } }`;
const DECLINE = `mutation ($callId: uuid!) { realtimeDeclineCall(callId: $callId) { ${CALL_FIELDS} } }`;
const END = `mutation ($callId: uuid!, $reason: String) { realtimeEndCall(callId: $callId, reason: $reason) { ${CALL_FIELDS} } }`;
const SIGNAL = `mutation ($callId: uuid!, $toUserId: String, $kind: RealtimeSignalKind!, $payload: jsonb) {
  realtimeSendSignal(callId: $callId, toUserId: $toUserId, kind: $kind, payload: $payload) { ids recipients } }`;
const SDP = 'v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';

const start = async (who: string, vars: Record<string, unknown>) => {
  const res = await rt.as(who, START, vars);
  expect(res.errors).toBeUndefined();
  return res.data.realtimeStartCall as { id: string; state: string; participants: Array<{ userId: string; state: string }> };
};
const state = (call: { participants: Array<{ userId: string; state: string }> }) => Object.fromEntries(call.participants.map((p) => [p.userId, p.state]));
/** Every call-related row, to prove a refusal changed nothing. */
const snapshot = async () =>
  (await rt.pool.query(`SELECT (SELECT json_agg(c ORDER BY id) FROM realtime.call c) AS calls, (SELECT json_agg(p ORDER BY call_id, user_id) FROM realtime.call_participant p) AS parts, (SELECT count(*) FROM realtime.signal) AS signals`)).rows[0];
/** Ends whatever call a user is still in, so tests do not make each other busy. */
const hangUpAll = async () => {
  await rt.pool.query(`UPDATE realtime.call SET state = 'ended', ended_at = now() WHERE state IN ('ringing', 'active')`);
};

describe('a one-to-one call', () => {
  afterAll(hangUpAll);
  let callId: string;

  it('rings, is answered once, and a second answer is refused', async () => {
    const call = await start('amy', { type: 'video', userIds: ['ben'] });
    callId = call.id;
    expect(call).toMatchObject({ type: 'video', state: 'ringing', initiatorId: 'amy', roomId: null });
    expect(state(call)).toEqual({ amy: 'joined', ben: 'invited' });
    const answered = await rt.as('ben', ANSWER, { callId });
    expect(answered.errors).toBeUndefined();
    expect(answered.data.realtimeAnswerCall).toMatchObject({ state: 'active' });
    expect(answered.data.realtimeAnswerCall.answeredAt).not.toBeNull();
    const before = await snapshot();
    const twice = await rt.as('ben', ANSWER, { callId });
    expect(errorCode(twice)).toBe('realtime/already-answered');
    expect(await snapshot()).toEqual(before);
  });

  it('delivers signals only to their addressee', async () => {
    const offer = await rt.as('amy', SIGNAL, { callId, toUserId: 'ben', kind: 'offer', payload: { sdp: SDP, type: 'offer' } });
    expect(offer.errors).toBeUndefined();
    expect(offer.data.realtimeSendSignal.recipients).toEqual(['ben']);
    await rt.as('ben', SIGNAL, { callId, toUserId: 'amy', kind: 'answer', payload: { sdp: SDP, type: 'answer' } });
    await rt.as('ben', SIGNAL, { callId, toUserId: 'amy', kind: 'ice', payload: { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
    const forBen = await rt.harness.select('user', user('ben'), T.signal, { call_id: { _eq: callId } });
    expect(forBen.map((s) => [s.kind, s.from_user_id])).toEqual([['offer', 'amy']]);
    const forAmy = await rt.harness.select('user', user('amy'), T.signal, { call_id: { _eq: callId } }, { orderBy: ['id'] });
    expect(forAmy.map((s) => s.kind)).toEqual(['answer', 'ice']);
    expect(await rt.harness.select('user', user('cal'), T.signal, { call_id: { _eq: callId } })).toEqual([]);
    expect(await rt.harness.select('user', user('cal'), T.call, { id: { _eq: callId } })).toEqual([]);
    expect(await rt.harness.select('user', user('cal'), T.participant, { call_id: { _eq: callId } })).toEqual([]);
    expect(await rt.harness.select('user', user('ben'), T.participant, { call_id: { _eq: callId } })).toHaveLength(2);
  });

  it('updates media state with mute/video/screen_share sent to everyone', async () => {
    const mute = await rt.as('ben', SIGNAL, { callId, kind: 'mute', payload: { audio: true } });
    expect(mute.data.realtimeSendSignal.recipients).toEqual(['amy']);
    await rt.as('ben', SIGNAL, { callId, kind: 'screen_share', payload: { enabled: true } });
    const p = (await rt.pool.query(`SELECT audio_muted, screen_sharing, video_enabled FROM realtime.call_participant WHERE call_id = $1 AND user_id = 'ben'`, [callId])).rows[0];
    expect(p).toEqual({ audio_muted: true, screen_sharing: true, video_enabled: true });
    expect((await rt.pool.query(`SELECT kind FROM realtime.signal WHERE call_id = $1 AND kind = 'screen-share'`, [callId])).rows).toHaveLength(1);
  });

  it.each([
    ['signalling into the call as a non-participant', 'cal', { toUserId: 'ben', kind: 'offer', payload: { sdp: SDP } }, 'realtime/call-not-found'],
    ['a signal to a user outside the call', 'amy', { toUserId: 'cal', kind: 'offer', payload: { sdp: SDP } }, 'realtime/not-a-participant'],
    ['a signal to yourself', 'amy', { toUserId: 'amy', kind: 'ice', payload: { candidate: null } }, 'realtime/not-a-participant'],
    ['SDP that is not a string', 'amy', { toUserId: 'ben', kind: 'offer', payload: { sdp: { v: 0 } } }, 'realtime/invalid-signal'],
    ['SDP over the size limit', 'amy', { toUserId: 'ben', kind: 'offer', payload: { sdp: 'a'.repeat(5000) } }, 'realtime/payload-too-large'],
    ['a 1 MB payload', 'amy', { toUserId: 'ben', kind: 'ice', payload: { candidate: 'c'.repeat(1_000_000) } }, 'realtime/payload-too-large'],
    ['an unknown payload field', 'amy', { toUserId: 'ben', kind: 'mute', payload: { audio: true, extra: 1 } }, 'realtime/invalid-signal'],
    ['an offer without a recipient', 'amy', { kind: 'offer', payload: { sdp: SDP } }, 'realtime/invalid-input'],
    ['an unknown kind', 'amy', { toUserId: 'ben', kind: 'chat', payload: {} }, 'validation-failed'],
  ])('refuses %s and writes nothing', async (_what, who, vars, code) => {
    const before = await snapshot();
    const res = await rt.as(who, SIGNAL, { callId, ...vars });
    expect(errorCode(res)).toBe(code);
    expect(await snapshot()).toEqual(before);
  });

  it('will not let a stranger end it, and ends when one side hangs up', async () => {
    const before = await snapshot();
    expect(errorCode(await rt.as('cal', END, { callId }))).toBe('realtime/call-not-found');
    expect(await snapshot()).toEqual(before);
    const ended = await rt.as('ben', END, { callId, reason: 'bye' });
    expect(ended.data.realtimeEndCall).toMatchObject({ state: 'ended', endReason: 'bye', endedBy: 'ben' });
    expect(state(ended.data.realtimeEndCall)).toEqual({ amy: 'left', ben: 'left' });
    expect(ended.data.realtimeEndCall.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(errorCode(await rt.as('amy', END, { callId }))).toBe('realtime/call-ended');
    expect(errorCode(await rt.as('amy', SIGNAL, { callId, toUserId: 'ben', kind: 'ice', payload: { candidate: null } }))).toBe('realtime/call-ended');
    expect(errorCode(await rt.as('ben', ANSWER, { callId }))).toBe('realtime/call-ended');
  });
});

describe('the state machine', () => {
  afterEach(hangUpAll);

  it('declines: the call is declined and the caller is free again', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    const res = await rt.as('ben', DECLINE, { callId: call.id });
    expect(res.data.realtimeDeclineCall).toMatchObject({ state: 'declined', endedBy: 'ben' });
    expect(state(res.data.realtimeDeclineCall)).toEqual({ amy: 'left', ben: 'declined' });
    expect(errorCode(await rt.as('ben', DECLINE, { callId: call.id }))).toBe('realtime/call-ended');
    await start('amy', { type: 'audio', userIds: ['ben'] });
  });

  it('cancels when the caller hangs up while it rings; callees missed it', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    const res = await rt.as('amy', END, { callId: call.id });
    expect(res.data.realtimeEndCall).toMatchObject({ state: 'cancelled' });
    expect(state(res.data.realtimeEndCall)).toEqual({ amy: 'left', ben: 'missed' });
  });

  it('marks a busy callee busy, and a call to only busy people is busy at once', async () => {
    const first = await start('amy', { type: 'audio', userIds: ['ben'] });
    const toBusy = await start('cal', { type: 'audio', userIds: ['ben'] });
    expect(toBusy).toMatchObject({ state: 'busy', endReason: 'busy' });
    expect(state(toBusy)).toEqual({ cal: 'left', ben: 'busy' });
    const group = await start('cal', { type: 'audio', userIds: ['amy', 'dan'] });
    expect(group.state).toBe('ringing');
    expect(state(group)).toEqual({ cal: 'joined', amy: 'busy', dan: 'invited' });
    // The caller being in a call is refused outright.
    const before = await snapshot();
    expect(errorCode(await rt.as('amy', START, { type: 'audio', userIds: ['dan'] }))).toBe('realtime/caller-busy');
    expect(await snapshot()).toEqual(before);
    expect(first.state).toBe('ringing');
  });

  it('times out to missed: lazily on a late answer, and through the cron', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    await rt.pool.query(`UPDATE realtime.call SET ring_expires_at = now() - interval '1 second' WHERE id = $1`, [call.id]);
    expect(errorCode(await rt.as('ben', ANSWER, { callId: call.id }))).toBe('realtime/call-ended');
    const row = (await rt.pool.query(`SELECT state, end_reason FROM realtime.call WHERE id = $1`, [call.id])).rows[0];
    expect(row).toEqual({ state: 'missed', end_reason: 'timeout' });

    const other = await start('cal', { type: 'audio', userIds: ['dan'] });
    await rt.pool.query(`UPDATE realtime.call SET ring_expires_at = now() - interval '1 second' WHERE id = $1`, [other.id]);
    expect((await rt.harness.fireCron('realtime_calls_timeout')).status).toBe('delivered');
    const parts = (await rt.pool.query(`SELECT user_id, state FROM realtime.call_participant WHERE call_id = $1 ORDER BY user_id`, [other.id])).rows;
    expect(parts).toEqual([{ user_id: 'cal', state: 'joined' }, { user_id: 'dan', state: 'missed' }]);
    expect((await rt.pool.query(`SELECT state FROM realtime.call WHERE id = $1`, [other.id])).rows[0].state).toBe('missed');
  });

  it('runs a group call in a room: it ends when the last but one leaves', async () => {
    const call = await start('amy', { type: 'video', roomId: 'channel:c' });
    expect(state(call)).toEqual({ amy: 'joined', ben: 'invited', cal: 'invited', dan: 'invited' });
    await rt.as('ben', ANSWER, { callId: call.id });
    await rt.as('cal', ANSWER, { callId: call.id });
    const declined = await rt.as('dan', DECLINE, { callId: call.id });
    expect(declined.data.realtimeDeclineCall.state).toBe('active');
    expect((await rt.as('amy', END, { callId: call.id })).data.realtimeEndCall.state).toBe('active');
    const last = await rt.as('ben', END, { callId: call.id });
    expect(last.data.realtimeEndCall).toMatchObject({ state: 'ended' });
    expect(state(last.data.realtimeEndCall)).toEqual({ amy: 'left', ben: 'left', cal: 'left', dan: 'declined' });
  });

  it('lets a participant who dropped out rejoin an active group call, but not a finished one', async () => {
    const call = await start('amy', { type: 'audio', roomId: 'channel:c' });
    await rt.as('ben', ANSWER, { callId: call.id });
    await rt.as('cal', ANSWER, { callId: call.id });
    await rt.as('ben', END, { callId: call.id });
    const back = await rt.as('ben', ANSWER, { callId: call.id });
    expect(back.errors).toBeUndefined();
    expect(state(back.data.realtimeAnswerCall)).toMatchObject({ ben: 'joined', amy: 'joined', cal: 'joined' });
    const late = await rt.as('dan', ANSWER, { callId: call.id });
    expect(state(late.data.realtimeAnswerCall).dan).toBe('joined');
    for (const u of ['amy', 'ben', 'cal']) await rt.as(u, END, { callId: call.id });
    expect(errorCode(await rt.as('ben', ANSWER, { callId: call.id }))).toBe('realtime/call-ended');
  });

  it('lets the service role end any call', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    const res = await rt.as('service', END, { callId: call.id, reason: 'moderation' });
    expect(res.data.realtimeEndCall).toMatchObject({ state: 'cancelled', endReason: 'moderation' });
  });

  it('leaves the call with a hangup signal', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    await rt.as('ben', ANSWER, { callId: call.id });
    const res = await rt.as('amy', SIGNAL, { callId: call.id, kind: 'hangup', payload: { reason: 'done' } });
    expect(res.data.realtimeSendSignal.recipients).toEqual(['ben']);
    expect((await rt.pool.query(`SELECT state, end_reason FROM realtime.call WHERE id = $1`, [call.id])).rows[0]).toEqual({ state: 'ended', end_reason: 'done' });
  });

  it.each([
    ['a stranger (no shared room)', { type: 'audio', userIds: ['zoe'] }, 'realtime/no-shared-room'],
    ['yourself', { type: 'audio', userIds: ['amy'] }, 'realtime/invalid-input'],
    ['nobody', { type: 'audio' }, 'realtime/invalid-input'],
    ['an unknown room', { type: 'audio', roomId: 'channel:nope' }, 'realtime/room-not-found'],
    ['a room the caller is not in', { type: 'audio', roomId: 'channel:solo' }, 'realtime/not-a-member'],
    ['users outside the room', { type: 'audio', roomId: 'channel:c', userIds: ['zoe'] }, 'realtime/not-a-member'],
    ['a room larger than a call', { type: 'audio', roomId: 'channel:big' }, 'realtime/too-many-participants'],
    ['too many callees', { type: 'audio', userIds: ['ben', 'cal', 'dan', 'u1'] }, 'realtime/too-many-participants'],
    ['an unknown call type', { type: 'hologram', userIds: ['ben'] }, 'validation-failed'],
  ])('refuses calling %s and writes nothing', async (_what, vars, code) => {
    const before = await snapshot();
    expect(errorCode(await rt.as('amy', START, vars))).toBe(code);
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['a call id that is not a UUID', ANSWER, { callId: 'call-1' }, 'realtime/invalid-input'],
    ['an unknown call', ANSWER, { callId: '00000000-0000-4000-8000-000000000000' }, 'realtime/call-not-found'],
    ['declining an unknown call', DECLINE, { callId: '00000000-0000-4000-8000-000000000000' }, 'realtime/call-not-found'],
    ['a reason over 200 characters', END, { callId: '00000000-0000-4000-8000-000000000000', reason: 'r'.repeat(201) }, 'realtime/invalid-input'],
  ])('refuses %s', async (_what, doc, vars, code) => {
    expect(errorCode(await rt.as('amy', doc, vars))).toBe(code);
  });

  it('refuses the caller answering or declining their own call', async () => {
    const call = await start('amy', { type: 'audio', userIds: ['ben'] });
    expect(errorCode(await rt.as('amy', ANSWER, { callId: call.id }))).toBe('realtime/already-answered');
    expect(errorCode(await rt.as('amy', DECLINE, { callId: call.id }))).toBe('realtime/call-not-ringing');
  });
});

describe('realtime_signals_prune', () => {
  it('removes old signals', async () => {
    await rt.pool.query(`UPDATE realtime.signal SET created_at = now() - interval '2 hours'`);
    expect(await count(rt.pool, 'SELECT 1 FROM realtime.signal')).toBeGreaterThan(0);
    await rt.harness.fireCron('realtime_signals_prune');
    expect(await count(rt.pool, 'SELECT 1 FROM realtime.signal')).toBe(0);
  });
});
