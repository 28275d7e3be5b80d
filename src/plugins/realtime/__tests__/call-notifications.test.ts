/**
 * Incoming and missed call notifications through the optional notifications plugin: with it enabled, the event
 * trigger notifies the callee once per call (one row in the callee's notification centre) however often Hasura
 * delivers, in categories realtime creates at start; without it, events are skipped with a reason.
 */
import { CALL_CATEGORIES } from '../lib/notify.js';
import { seedRoom, startRealtime, type Realtime } from './support/fixture.js';

const START = 'mutation ($userIds: [String!]) { realtimeStartCall(type: audio, userIds: $userIds) { id } }';
const ANSWER = 'mutation ($callId: uuid!) { realtimeAnswerCall(callId: $callId) { state } }';

describe('with the notifications plugin enabled', () => {
  let rt: Realtime;
  const centre = async (user: string) =>
    (
      await rt.pool.query<{ category: string; title: string; data: Record<string, unknown> }>(
        `SELECT category, title, data FROM notifications.notification WHERE user_id = $1 ORDER BY created_at, category`,
        [user],
      )
    ).rows;
  beforeAll(async () => {
    rt = await startRealtime('rt_notify');
    await seedRoom(rt.pool, 'channel:n', { ann: 'member', bo: 'member', cy: 'member' });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('creates its call categories in the notifications plugin at start', async () => {
    const r = await rt.pool.query<{ key: string }>(`SELECT key FROM notifications.category WHERE key LIKE 'realtime.%' ORDER BY key`);
    expect(r.rows.map((x) => x.key)).toEqual([CALL_CATEGORIES.incoming, CALL_CATEGORIES.missed]);
  });

  it('notifies an incoming call once, even when the event is delivered twice', async () => {
    const res = await rt.as('ann', START, { userIds: ['bo'] });
    const callId = res.data.realtimeStartCall.id;
    await rt.harness.drain({ timeoutMs: 10_000 });
    expect(await centre('bo')).toEqual([
      { category: CALL_CATEGORIES.incoming, title: 'Incoming voice call', data: expect.objectContaining({ callId, callerId: 'ann', type: 'audio', kind: 'incoming' }) },
    ]);
    const [event] = (await rt.harness.eventLog('realtime_participant_notify')).filter((e) => (e.payload as any).data.new.user_id === 'bo');
    await rt.harness.redeliverEvent(event!.id);
    await rt.harness.drain({ timeoutMs: 10_000 });
    expect(await centre('bo')).toHaveLength(1);
    await rt.as('bo', ANSWER, { callId });
    await rt.pool.query(`UPDATE realtime.call SET state = 'ended' WHERE id = $1`, [callId]);
  });

  it('notifies a missed call when ringing times out', async () => {
    const res = await rt.as('ann', START, { userIds: ['cy'] });
    const callId = res.data.realtimeStartCall.id;
    await rt.harness.drain({ timeoutMs: 10_000 });
    await rt.pool.query(`UPDATE realtime.call SET ring_expires_at = now() - interval '1 second' WHERE id = $1`, [callId]);
    await rt.harness.fireCron('realtime_calls_timeout');
    await rt.harness.drain({ timeoutMs: 10_000 });
    expect((await centre('cy')).map((n) => n.category)).toEqual([CALL_CATEGORIES.incoming, CALL_CATEGORIES.missed]);
  });

  it('does not ring a callee when the event arrives after the call was answered', async () => {
    const before = (await centre('bo')).length;
    // The invitation commits in a call that is already active: its event is delivered late by construction.
    const call = await rt.pool.query<{ id: string }>(
      `INSERT INTO realtime.call (type, state, initiator_id, ring_expires_at, answered_at) VALUES ('audio', 'active', 'ann', now() + interval '1 minute', now()) RETURNING id`,
    );
    await rt.pool.query(`INSERT INTO realtime.call_participant (call_id, user_id, role, state) VALUES ($1, 'bo', 'callee', 'invited')`, [call.rows[0]!.id]);
    await rt.harness.drain({ timeoutMs: 10_000 });
    expect(await centre('bo')).toHaveLength(before);
    const [event] = (await rt.harness.eventLog('realtime_participant_notify')).filter((e) => (e.payload as any).data.new.call_id === call.rows[0]!.id);
    expect(JSON.stringify((await rt.harness.invocations(event!.id)).at(-1)!.response)).toContain('the call is active');
    await rt.pool.query(`UPDATE realtime.call SET state = 'ended' WHERE id = $1`, [call.rows[0]!.id]);
  });
});

describe('without the notifications plugin', () => {
  let rt: Realtime;
  beforeAll(async () => {
    rt = await startRealtime('rt_no_notify', { PLUGINS_ENABLED: 'core,jobs,realtime' });
    await seedRoom(rt.pool, 'channel:n', { ann: 'member', bo: 'member' });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('calls work and the event is acknowledged as skipped with its reason', async () => {
    const res = await rt.as('ann', START, { userIds: ['bo'] });
    expect(res.errors).toBeUndefined();
    await rt.harness.drain({ timeoutMs: 10_000 });
    const [event] = (await rt.harness.eventLog('realtime_participant_notify')).filter((e) => (e.payload as any).data.new.user_id === 'bo');
    expect(event?.delivered).toBe(true);
    const invocations = await rt.harness.invocations(event!.id);
    expect(JSON.stringify(invocations.at(-1)!.response)).toContain('the notifications plugin is not enabled');
  });
});
