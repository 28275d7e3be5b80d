/**
 * Rooms and membership through the real server and the harness: public rooms open, private rooms only by a
 * grant from an owner/admin (never above their own role) or the service role, personal user: rooms, threads
 * behind their channel, and what each user can read.
 */
import { count, errorCode, seedRoom, startRealtime, T, user, type Realtime } from './support/fixture.js';

let rt: Realtime;
beforeAll(async () => {
  rt = await startRealtime('rt_rooms');
});
afterAll(async () => {
  await rt?.close();
});

const JOIN = 'mutation ($roomId: String!, $userId: String, $role: RealtimeMemberRole) { realtimeJoinRoom(roomId: $roomId, userId: $userId, role: $role) { roomId userId role joinedAt created } }';
const LEAVE = 'mutation ($roomId: String!, $userId: String) { realtimeLeaveRoom(roomId: $roomId, userId: $userId) { roomId userId left } }';
const CREATE = `mutation ($id: String!, $private: Boolean, $name: String, $parentId: String, $metadata: jsonb, $members: [RealtimeMemberInput!]) {
  realtimeCreateRoom(id: $id, private: $private, name: $name, parentId: $parentId, metadata: $metadata, members: $members) { id type private parentId name created membersAdded } }`;

const members = async (room: string) =>
  (await rt.pool.query<{ user_id: string; role: string }>('SELECT user_id, role FROM realtime.room_member WHERE room_id = $1 ORDER BY user_id', [room])).rows;

describe('realtimeCreateRoom (service role)', () => {
  it('creates a room with members, and updating it is idempotent', async () => {
    const res = await rt.as('service', CREATE, { id: 'channel:general', name: 'General', members: [{ userId: 'alice', role: 'owner' }, { userId: 'bob' }] });
    expect(res.errors).toBeUndefined();
    expect(res.data.realtimeCreateRoom).toEqual({ id: 'channel:general', type: 'channel', private: false, parentId: null, name: 'General', created: true, membersAdded: 2 });
    const again = await rt.as('service', CREATE, { id: 'channel:general', members: [{ userId: 'alice', role: 'owner' }] });
    expect(again.data.realtimeCreateRoom).toMatchObject({ created: false, membersAdded: 0, name: 'General' });
    expect(await members('channel:general')).toEqual([{ user_id: 'alice', role: 'owner' }, { user_id: 'bob', role: 'member' }]);
  });

  it('makes dm: rooms private whatever is asked', async () => {
    const res = await rt.as('service', CREATE, { id: 'dm:alice-bob', private: false, members: [{ userId: 'alice' }, { userId: 'bob' }] });
    expect(res.data.realtimeCreateRoom.private).toBe(true);
  });

  it('does not exist for users', async () => {
    const res = await rt.as('alice', CREATE, { id: 'channel:mine' });
    expect(errorCode(res)).toBe('validation-failed');
    expect(await count(rt.pool, `SELECT 1 FROM realtime.room WHERE id = 'channel:mine'`)).toBe(0);
  });

  it.each([
    ['a malformed id', { id: 'general' }, 'realtime/invalid-room-id'],
    ['an unknown kind', { id: 'group:1' }, 'realtime/invalid-room-id'],
    ['an id over 128 characters', { id: `channel:${'x'.repeat(129)}` }, 'realtime/invalid-room-id'],
    ['an unknown parent', { id: 'thread:t0', parentId: 'channel:nope' }, 'realtime/room-not-found'],
    ['another member in a user: room', { id: 'user:carol', members: [{ userId: 'dave' }] }, 'realtime/forbidden'],
    ['metadata over 16 KiB', { id: 'channel:meta', metadata: { notes: 'm'.repeat(20_000) } }, 'realtime/invalid-input'],
    ['a private flag that is not a boolean', { id: 'channel:flag', private: 'yes' }, 'validation-failed'],
  ])('rejects %s and writes nothing', async (_what, vars, code) => {
    const before = await count(rt.pool, 'SELECT 1 FROM realtime.room');
    const res = await rt.as('service', CREATE, vars);
    expect(errorCode(res)).toBe(code);
    expect(await count(rt.pool, 'SELECT 1 FROM realtime.room')).toBe(before);
  });
});

describe('realtimeJoinRoom / realtimeLeaveRoom', () => {
  beforeAll(async () => {
    await seedRoom(rt.pool, 'channel:open', { olga: 'owner' });
    await seedRoom(rt.pool, 'channel:secret', { sam: 'owner', adam: 'admin', mia: 'member' }, true);
  });

  it('joins a public room once, with a member:joined event, and leaves it', async () => {
    const first = await rt.as('pat', JOIN, { roomId: 'channel:open' });
    expect(first.errors).toBeUndefined();
    expect(first.data.realtimeJoinRoom).toMatchObject({ roomId: 'channel:open', userId: 'pat', role: 'member', created: true });
    const replay = await rt.as('pat', JOIN, { roomId: 'channel:open' });
    expect(replay.data.realtimeJoinRoom).toMatchObject({ created: false, joinedAt: first.data.realtimeJoinRoom.joinedAt });
    expect(await count(rt.pool, `SELECT 1 FROM realtime.event WHERE room_id = 'channel:open' AND type = 'member:joined' AND payload->>'userId' = 'pat'`)).toBe(1);

    const left = await rt.as('pat', LEAVE, { roomId: 'channel:open' });
    expect(left.data.realtimeLeaveRoom).toEqual({ roomId: 'channel:open', userId: 'pat', left: true });
    const again = await rt.as('pat', LEAVE, { roomId: 'channel:open' });
    expect(again.data.realtimeLeaveRoom.left).toBe(false);
    expect(await count(rt.pool, `SELECT 1 FROM realtime.event WHERE room_id = 'channel:open' AND type = 'member:left'`)).toBe(1);
  });

  it('refuses a private room without a grant, and writes nothing', async () => {
    const res = await rt.as('eve', JOIN, { roomId: 'channel:secret' });
    expect(errorCode(res)).toBe('realtime/private-room');
    expect(await members('channel:secret')).toHaveLength(3);
  });

  it('lets an admin grant membership, but not a role above their own', async () => {
    const granted = await rt.as('adam', JOIN, { roomId: 'channel:secret', userId: 'eve' });
    expect(granted.data.realtimeJoinRoom).toMatchObject({ userId: 'eve', role: 'member', created: true });
    const tooHigh = await rt.as('adam', JOIN, { roomId: 'channel:secret', userId: 'fred', role: 'owner' });
    expect(errorCode(tooHigh)).toBe('realtime/forbidden');
    const byMember = await rt.as('mia', JOIN, { roomId: 'channel:secret', userId: 'fred' });
    expect(errorCode(byMember)).toBe('realtime/forbidden');
    const byOutsider = await rt.as('zed', JOIN, { roomId: 'channel:secret', userId: 'zed2' });
    expect(errorCode(byOutsider)).toBe('realtime/not-a-member');
    const ownerPromotes = await rt.as('sam', JOIN, { roomId: 'channel:secret', userId: 'eve', role: 'admin' });
    expect(ownerPromotes.data.realtimeJoinRoom).toMatchObject({ role: 'admin', created: false });
    expect((await members('channel:secret')).map((m) => m.user_id)).toEqual(['adam', 'eve', 'mia', 'sam']);
  });

  it('lets the service role add anyone with any role', async () => {
    const res = await rt.as('service', JOIN, { roomId: 'channel:secret', userId: 'svc-added', role: 'admin' });
    expect(res.data.realtimeJoinRoom).toMatchObject({ userId: 'svc-added', role: 'admin', created: true });
  });

  it('removes others only from an equal or higher role', async () => {
    const byMember = await rt.as('mia', LEAVE, { roomId: 'channel:secret', userId: 'adam' });
    expect(errorCode(byMember)).toBe('realtime/forbidden');
    const adminRemovesOwner = await rt.as('adam', LEAVE, { roomId: 'channel:secret', userId: 'sam' });
    expect(errorCode(adminRemovesOwner)).toBe('realtime/forbidden');
    const kicked = await rt.as('adam', LEAVE, { roomId: 'channel:secret', userId: 'mia' });
    expect(kicked.data.realtimeLeaveRoom.left).toBe(true);
    expect((await members('channel:secret')).map((m) => m.user_id)).not.toContain('mia');
  });

  it('creates the personal user: room on first join by its user, and nobody else gets in', async () => {
    const own = await rt.as('una', JOIN, { roomId: 'user:una' });
    expect(own.data.realtimeJoinRoom).toMatchObject({ role: 'owner' });
    const other = await rt.as('vic', JOIN, { roomId: 'user:una' });
    expect(errorCode(other)).toBe('realtime/forbidden');
    const granted = await rt.as('service', JOIN, { roomId: 'user:una', userId: 'vic' });
    expect(errorCode(granted)).toBe('realtime/forbidden');
    expect(await members('user:una')).toEqual([{ user_id: 'una', role: 'owner' }]);
  });

  it('opens a thread only to members of its channel, and leaving the channel leaves its threads', async () => {
    await rt.as('service', CREATE, { id: 'thread:open-1', parentId: 'channel:open' });
    const outsider = await rt.as('quinn', JOIN, { roomId: 'thread:open-1' });
    expect(errorCode(outsider)).toBe('realtime/not-a-member');
    await rt.as('quinn', JOIN, { roomId: 'channel:open' });
    const inside = await rt.as('quinn', JOIN, { roomId: 'thread:open-1' });
    expect(inside.data.realtimeJoinRoom.created).toBe(true);
    await rt.as('quinn', LEAVE, { roomId: 'channel:open' });
    expect(await count(rt.pool, `SELECT 1 FROM realtime.room_member WHERE user_id = 'quinn'`)).toBe(0);
  });

  it.each([
    ['an unknown room', JOIN, { roomId: 'channel:nope' }, 'realtime/room-not-found'],
    ['a malformed room id', JOIN, { roomId: 'not a room' }, 'realtime/invalid-room-id'],
    ['a self-chosen role above member', JOIN, { roomId: 'channel:open', role: 'admin' }, 'realtime/forbidden'],
    ['a user id over 128 characters', JOIN, { roomId: 'channel:open', userId: 'u'.repeat(129) }, 'realtime/invalid-input'],
    ['leaving an unknown room', LEAVE, { roomId: 'channel:nope' }, 'realtime/room-not-found'],
  ])('rejects %s', async (_what, doc, vars, code) => {
    const before = await count(rt.pool, 'SELECT 1 FROM realtime.room_member');
    const res = await rt.as('ray', doc, vars);
    expect(errorCode(res)).toBe(code);
    expect(await count(rt.pool, 'SELECT 1 FROM realtime.room_member')).toBe(before);
  });

  it('rejects wrong argument types before the handler, and a user session without a user id', async () => {
    expect(errorCode(await rt.as('ray', 'mutation { realtimeJoinRoom(roomId: 42) { roomId } }'))).toBe('validation-failed');
    expect(errorCode(await rt.as('ray', 'mutation { realtimeJoinRoom { roomId } }'))).toBe('validation-failed');
    expect(errorCode(await rt.as('ray', 'mutation { realtimeJoinRoom(roomId: "channel:open", role: superuser) { roomId } }'))).toBe('validation-failed');
    const noUser = await rt.harness.graphql('mutation { realtimeJoinRoom(roomId: "channel:open") { roomId } }', {}, { role: 'user' });
    expect(errorCode(noUser)).toBe('realtime/no-user');
  });
});

describe('realtimeDeleteRoom (service role)', () => {
  it('deletes a room with its threads, members, events and typing; calls keep their history', async () => {
    await seedRoom(rt.pool, 'channel:gone', { gil: 'owner', hal: 'member' });
    await rt.as('service', CREATE, { id: 'thread:gone-1', parentId: 'channel:gone', members: [{ userId: 'gil' }] });
    await rt.pool.query(`INSERT INTO realtime.typing (room_id, user_id, expires_at) VALUES ('channel:gone', 'hal', now() + interval '1 minute'), ('thread:gone-1', 'gil', now() + interval '1 minute')`);
    const call = await rt.pool.query(`INSERT INTO realtime.call (room_id, type, state, initiator_id, ring_expires_at) VALUES ('channel:gone', 'audio', 'ended', 'gil', now()) RETURNING id`);
    const DELETE = 'mutation ($id: String!) { realtimeDeleteRoom(id: $id) { id deleted } }';
    expect(errorCode(await rt.as('gil', DELETE, { id: 'channel:gone' }))).toBe('validation-failed');
    const res = await rt.as('service', DELETE, { id: 'channel:gone' });
    expect(res.data.realtimeDeleteRoom).toEqual({ id: 'channel:gone', deleted: true });
    for (const sql of [
      `SELECT 1 FROM realtime.room WHERE id IN ('channel:gone', 'thread:gone-1')`,
      `SELECT 1 FROM realtime.room_member WHERE room_id IN ('channel:gone', 'thread:gone-1')`,
      `SELECT 1 FROM realtime.event WHERE room_id IN ('channel:gone', 'thread:gone-1')`,
      `SELECT 1 FROM realtime.typing WHERE room_id IN ('channel:gone', 'thread:gone-1')`,
    ]) expect(await count(rt.pool, sql)).toBe(0);
    expect((await rt.pool.query('SELECT room_id FROM realtime.call WHERE id = $1', [call.rows[0].id])).rows).toEqual([{ room_id: null }]);
    expect((await rt.as('service', DELETE, { id: 'channel:gone' })).data.realtimeDeleteRoom.deleted).toBe(false);
    expect(errorCode(await rt.as('service', DELETE, { id: 'gone' }))).toBe('realtime/invalid-room-id');
  });
});

describe('who reads what', () => {
  beforeAll(async () => {
    await seedRoom(rt.pool, 'channel:pair', { amy: 'member', ben: 'member' }, true);
    await seedRoom(rt.pool, 'channel:lobby', { amy: 'member', cat: 'member' });
  });

  it('shows private rooms and their members only to members', async () => {
    const forAmy = await rt.harness.select('user', user('amy'), T.room, { id: { _eq: 'channel:pair' } });
    expect(forAmy).toHaveLength(1);
    expect(await rt.harness.select('user', user('cat'), T.room, { id: { _eq: 'channel:pair' } })).toEqual([]);
    expect(await rt.harness.select('user', user('cat'), T.room, { id: { _eq: 'channel:lobby' } })).toHaveLength(1);
    expect(await rt.harness.select('user', user('cat'), T.member, { room_id: { _eq: 'channel:pair' } })).toEqual([]);
    expect((await rt.harness.select('user', user('ben'), T.member, { room_id: { _eq: 'channel:pair' } })).map((r) => r.user_id).sort()).toEqual(['amy', 'ben']);
  });
});
