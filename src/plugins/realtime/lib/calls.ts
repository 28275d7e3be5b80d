/**
 * Calls and their state machine:
 *
 *   ringing ──answer──▶ active ──last but one leaves──▶ ended
 *      │ every callee declines ─▶ declined      caller hangs up while ringing ─▶ cancelled
 *      │ nobody answers in time ─▶ missed      every callee already in a call ─▶ busy
 *
 * A participant is invited → joined → left, or invited → declined | missed | busy. A user is busy while they
 * are invited to or joined in a ringing or active call. Every change runs in one transaction holding an
 * advisory lock per user involved (taken in id order), so two replicas starting calls to the same person at
 * once cannot both find them free.
 */
import type { PoolClient } from 'pg';
import type { Db, Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { findRoom, memberRole } from './rooms.js';

export type CallType = 'audio' | 'video' | 'screen';
export type CallState = 'ringing' | 'active' | 'ended' | 'declined' | 'missed' | 'busy' | 'cancelled';
export type ParticipantState = 'invited' | 'joined' | 'left' | 'declined' | 'missed' | 'busy';
export const LIVE_CALL_STATES: readonly CallState[] = ['ringing', 'active'];

export interface CallParticipant {
  userId: string;
  role: 'caller' | 'callee';
  state: ParticipantState;
  invitedAt: string;
  joinedAt: string | null;
  leftAt: string | null;
  audioMuted: boolean;
  videoEnabled: boolean;
  screenSharing: boolean;
}

export interface Call {
  id: string;
  type: CallType;
  state: CallState;
  roomId: string | null;
  initiatorId: string;
  ringExpiresAt: string;
  createdAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  endedBy: string | null;
  endReason: string | null;
  durationSeconds: number | null;
  participants: CallParticipant[];
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export async function readCall(q: Queryable, id: string): Promise<Call | null> {
  const r = await q.query(
    `SELECT c.*, coalesce((SELECT json_agg(p ORDER BY p.role, p.invited_at, p.user_id) FROM realtime.call_participant p WHERE p.call_id = c.id), '[]') AS participants
       FROM realtime.call c WHERE c.id = $1`,
    [id],
  );
  const c = r.rows[0];
  if (!c) return null;
  return {
    id: c.id,
    type: c.type,
    state: c.state,
    roomId: c.room_id,
    initiatorId: c.initiator_id,
    ringExpiresAt: c.ring_expires_at.toISOString(),
    createdAt: c.created_at.toISOString(),
    answeredAt: iso(c.answered_at),
    endedAt: iso(c.ended_at),
    endedBy: c.ended_by,
    endReason: c.end_reason,
    durationSeconds: c.duration_seconds,
    participants: (c.participants as Record<string, any>[]).map((p) => ({
      userId: p.user_id,
      role: p.role,
      state: p.state,
      invitedAt: new Date(p.invited_at).toISOString(),
      joinedAt: p.joined_at ? new Date(p.joined_at).toISOString() : null,
      leftAt: p.left_at ? new Date(p.left_at).toISOString() : null,
      audioMuted: p.audio_muted,
      videoEnabled: p.video_enabled,
      screenSharing: p.screen_sharing,
    })),
  };
}

/** Advisory locks on users, in id order (deadlock-free), held to commit. */
async function lockUsers(c: PoolClient, userIds: readonly string[]): Promise<void> {
  await c.query(
    `SELECT pg_advisory_xact_lock(hashtextextended('realtime.user:' || u, 0)) FROM (SELECT DISTINCT u FROM unnest($1::text[]) u ORDER BY u) s`,
    [userIds],
  );
}

/**
 * Ringing that outlived its time: whole calls nobody answered become missed, and callees of an active call
 * who never answered are marked missed. Run by the cron and, for the calls at hand, before every change, so
 * a late answer never revives a call that should have timed out.
 */
export async function timeOutCalls(q: Queryable, onlyCall: string | null = null): Promise<{ calls: number; participants: number }> {
  const calls = await q.query(
    `UPDATE realtime.call SET state = 'missed', ended_at = now(), end_reason = 'timeout', updated_at = now()
      WHERE state = 'ringing' AND ring_expires_at <= now() AND ($1::uuid IS NULL OR id = $1)`,
    [onlyCall],
  );
  const parts = await q.query(
    `UPDATE realtime.call_participant p SET state = 'missed', left_at = now(), updated_at = now()
       FROM realtime.call c
      WHERE c.id = p.call_id AND p.state = 'invited' AND ($1::uuid IS NULL OR c.id = $1)
        AND (c.state NOT IN ('ringing', 'active') OR c.ring_expires_at <= now())`,
    [onlyCall],
  );
  return { calls: calls.rowCount ?? 0, participants: parts.rowCount ?? 0 };
}

/** Users among `userIds` who are invited to or joined in a ringing or active call. */
async function busyUsers(c: Queryable, userIds: readonly string[], exceptCall: string | null = null): Promise<Set<string>> {
  const r = await c.query<{ user_id: string }>(
    `SELECT DISTINCT p.user_id FROM realtime.call_participant p JOIN realtime.call c ON c.id = p.call_id
      WHERE p.user_id = ANY($1::text[]) AND p.state IN ('invited', 'joined') AND c.state IN ('ringing', 'active')
        AND ($2::uuid IS NULL OR c.id <> $2)
        AND NOT (c.state = 'ringing' AND c.ring_expires_at <= now())`,
    [userIds, exceptCall],
  );
  return new Set(r.rows.map((x) => x.user_id));
}

export interface StartCallInput {
  callerId: string;
  type: CallType;
  userIds: string[] | null;
  roomId: string | null;
  ringSeconds: number;
  maxParticipants: number;
  requireSharedRoom: boolean;
}

export async function startCall(db: Db, i: StartCallInput): Promise<Call> {
  let callees = i.userIds ? [...new Set(i.userIds)] : null;
  if (callees?.includes(i.callerId)) throw realtimeError('realtime/invalid-input', 'you cannot call yourself');
  if (i.roomId) {
    const room = await findRoom(db, i.roomId);
    if (!room) throw realtimeError('realtime/room-not-found', `no room ${i.roomId}`);
    if (!(await memberRole(db, i.roomId, i.callerId))) throw realtimeError('realtime/not-a-member', `you are not a member of ${i.roomId}`);
    const members = await db.query<{ user_id: string }>(
      `SELECT user_id FROM realtime.room_member WHERE room_id = $1 AND user_id <> $2 ORDER BY joined_at, user_id LIMIT $3`,
      [i.roomId, i.callerId, i.maxParticipants],
    );
    const memberIds = new Set(members.rows.map((r) => r.user_id));
    if (callees) {
      const outside = await nonMembers(db, i.roomId, callees);
      if (outside.length) throw realtimeError('realtime/not-a-member', `not members of ${i.roomId}: ${outside.join(', ')}`, { userIds: outside });
    } else {
      callees = [...memberIds];
      if (memberIds.size >= i.maxParticipants) throw realtimeError('realtime/too-many-participants', `${i.roomId} has more members than a call may have (${i.maxParticipants}); pass userIds`);
    }
  } else if (!callees || callees.length === 0) {
    throw realtimeError('realtime/invalid-input', 'give userIds, roomId or both');
  }
  if (callees.length === 0) throw realtimeError('realtime/invalid-input', 'nobody else to call in this room');
  if (callees.length + 1 > i.maxParticipants) throw realtimeError('realtime/too-many-participants', `at most ${i.maxParticipants} participants, the caller included`);
  if (!i.roomId && i.requireSharedRoom) {
    const strangers = await db.query<{ u: string }>(
      `SELECT u FROM unnest($2::text[]) u
        WHERE NOT EXISTS (SELECT 1 FROM realtime.room_member a JOIN realtime.room_member b ON b.room_id = a.room_id
                           WHERE a.user_id = $1 AND b.user_id = u)`,
      [i.callerId, callees],
    );
    if (strangers.rowCount) throw realtimeError('realtime/no-shared-room', undefined, { userIds: strangers.rows.map((r) => r.u) });
  }
  const everyone = [i.callerId, ...callees];
  const id = await db.tx(async (c) => {
    await lockUsers(c, everyone);
    const busy = await busyUsers(c, everyone);
    if (busy.has(i.callerId)) throw realtimeError('realtime/caller-busy');
    const allBusy = callees!.every((u) => busy.has(u));
    const r = await c.query<{ id: string }>(
      `INSERT INTO realtime.call (room_id, type, state, initiator_id, ring_expires_at, ended_at, end_reason)
       VALUES ($1, $2, $3, $4, now() + $5::int * interval '1 second', CASE WHEN $3 = 'busy' THEN now() END, CASE WHEN $3 = 'busy' THEN 'busy' END)
       RETURNING id`,
      [i.roomId, i.type, allBusy ? 'busy' : 'ringing', i.callerId, i.ringSeconds],
    );
    const callId = r.rows[0]!.id;
    await c.query(
      `INSERT INTO realtime.call_participant (call_id, user_id, role, state, joined_at, left_at, audio_muted, video_enabled)
       SELECT $1, u, CASE WHEN u = $2 THEN 'caller' ELSE 'callee' END,
              CASE WHEN u = $2 THEN (CASE WHEN $4 THEN 'left' ELSE 'joined' END) WHEN u = ANY($5::text[]) THEN 'busy' ELSE 'invited' END,
              CASE WHEN u = $2 THEN now() END,
              CASE WHEN u = $2 AND $4 THEN now() END,
              false, CASE WHEN u = $2 THEN $6 ELSE false END
         FROM unnest($3::text[]) u`,
      [callId, i.callerId, everyone, allBusy, [...busy], i.type === 'video'],
    );
    return callId;
  });
  return (await readCall(db, id))!;
}

async function nonMembers(q: Queryable, roomId: string, userIds: string[]): Promise<string[]> {
  const r = await q.query<{ u: string }>(
    `SELECT u FROM unnest($2::text[]) u WHERE NOT EXISTS (SELECT 1 FROM realtime.room_member WHERE room_id = $1 AND user_id = u)`,
    [roomId, userIds],
  );
  return r.rows.map((x) => x.u);
}

interface Locked {
  state: CallState;
  initiator_id: string;
  me: ParticipantState | null;
  others: { user_id: string; state: ParticipantState }[];
}

/** Locks the call's participants and row; 404 when `userId` takes no part (unless service). */
async function lockCall(c: PoolClient, callId: string, userId: string | null, service: boolean): Promise<Locked> {
  const who = await c.query<{ user_id: string }>('SELECT user_id FROM realtime.call_participant WHERE call_id = $1', [callId]);
  if (!who.rowCount || (!service && !who.rows.some((r) => r.user_id === userId))) throw realtimeError('realtime/call-not-found');
  await lockUsers(c, who.rows.map((r) => r.user_id));
  const call = await c.query<{ state: CallState; initiator_id: string }>('SELECT state, initiator_id FROM realtime.call WHERE id = $1 FOR UPDATE', [callId]);
  const parts = await c.query<{ user_id: string; state: ParticipantState }>('SELECT user_id, state FROM realtime.call_participant WHERE call_id = $1', [callId]);
  return {
    state: call.rows[0]!.state,
    initiator_id: call.rows[0]!.initiator_id,
    me: parts.rows.find((p) => p.user_id === userId)?.state ?? null,
    others: parts.rows.filter((p) => p.user_id !== userId),
  };
}

/** Runs `fn` on a locked call; a time-out it applied is committed even when `fn` then refuses the change. */
async function withCall(db: Db, callId: string, userId: string | null, service: boolean, fn: (c: PoolClient, call: Locked) => Promise<void>): Promise<Call> {
  await timeOutCalls(db, callId);
  await db.tx(async (c) => fn(c, await lockCall(c, callId, userId, service)));
  return (await readCall(db, callId))!;
}

const ended = (s: CallState) => !LIVE_CALL_STATES.includes(s);

export function answerCall(db: Db, callId: string, userId: string): Promise<Call> {
  return withCall(db, callId, userId, false, async (c, call) => {
    if (ended(call.state)) throw realtimeError('realtime/call-ended', `the call has ended (${call.state})`, { state: call.state });
    if (call.me === 'joined') throw realtimeError('realtime/already-answered');
    // Someone who left, missed or declined an active call may (re)join it while it lasts: a dropped connection, a
    // late arrival. A call that is still ringing is only answered by those it rings for.
    const rejoin = call.state === 'active' && (call.me === 'left' || call.me === 'missed' || call.me === 'declined');
    if (call.me !== 'invited' && !rejoin) throw realtimeError('realtime/call-not-ringing', `the call is not ringing for you (you ${call.me})`, { participantState: call.me });
    if ((await busyUsers(c, [userId], callId)).size) throw realtimeError('realtime/caller-busy', 'you are in another call: end it first');
    await c.query(
      `UPDATE realtime.call_participant SET state = 'joined', joined_at = now(), left_at = NULL, updated_at = now(),
              video_enabled = (SELECT type = 'video' FROM realtime.call WHERE id = $1)
        WHERE call_id = $1 AND user_id = $2`,
      [callId, userId],
    );
    await c.query(`UPDATE realtime.call SET state = 'active', answered_at = now(), updated_at = now() WHERE id = $1 AND state = 'ringing'`, [callId]);
  });
}

export function declineCall(db: Db, callId: string, userId: string): Promise<Call> {
  return withCall(db, callId, userId, false, async (c, call) => {
    if (ended(call.state)) throw realtimeError('realtime/call-ended', `the call has ended (${call.state})`, { state: call.state });
    if (call.me !== 'invited') throw realtimeError('realtime/call-not-ringing', `the call is not ringing for you (you ${call.me})`, { participantState: call.me });
    await c.query(`UPDATE realtime.call_participant SET state = 'declined', left_at = now(), updated_at = now() WHERE call_id = $1 AND user_id = $2`, [callId, userId]);
    // Ringing and nobody left to answer: the whole call is declined.
    const stillRinging = call.others.some((p) => p.state === 'invited');
    const someoneJoined = call.others.some((p) => p.state === 'joined' && p.user_id !== call.initiator_id);
    if (call.state === 'ringing' && !stillRinging && !someoneJoined) {
      await finish(c, callId, 'declined', userId, 'declined');
    }
  });
}

/**
 * Hangs up: the caller of a ringing call cancels it; a ringing callee declines; in an active call the user
 * leaves, and the call ends when fewer than two remain. The service role ends any call outright.
 */
export function endCall(db: Db, callId: string, actor: { userId: string | null; service: boolean }, reason: string | null): Promise<Call> {
  return withCall(db, callId, actor.userId, actor.service, async (c, call) => {
    if (ended(call.state)) throw realtimeError('realtime/call-ended', `the call has ended (${call.state})`, { state: call.state });
    if (call.me === null && actor.service) {
      await finish(c, callId, call.state === 'ringing' ? 'cancelled' : 'ended', actor.userId, reason ?? 'ended by the service');
      return;
    }
    if (call.me === 'invited') {
      await c.query(`UPDATE realtime.call_participant SET state = 'declined', left_at = now(), updated_at = now() WHERE call_id = $1 AND user_id = $2`, [callId, actor.userId]);
      if (call.state === 'ringing' && !call.others.some((p) => p.state === 'invited' || (p.state === 'joined' && p.user_id !== call.initiator_id))) {
        await finish(c, callId, 'declined', actor.userId, reason ?? 'declined');
      }
      return;
    }
    if (call.me !== 'joined') throw realtimeError('realtime/call-ended', `you already left this call (${call.me})`, { participantState: call.me });
    if (call.state === 'ringing') {
      // Only the caller is joined while a call rings.
      await finish(c, callId, 'cancelled', actor.userId, reason ?? 'cancelled');
      return;
    }
    await c.query(`UPDATE realtime.call_participant SET state = 'left', left_at = now(), updated_at = now() WHERE call_id = $1 AND user_id = $2`, [callId, actor.userId]);
    const remaining = call.others.filter((p) => p.state === 'joined').length;
    if (remaining < 2) await finish(c, callId, 'ended', actor.userId, reason ?? 'hangup');
  });
}

/** Ends the call in `state`: joined participants leave, invited ones missed it. */
async function finish(c: PoolClient, callId: string, state: CallState, by: string | null, reason: string): Promise<void> {
  await c.query(
    `UPDATE realtime.call SET state = $2, ended_at = now(), ended_by = $3, end_reason = $4, updated_at = now() WHERE id = $1`,
    [callId, state, by, reason.slice(0, 200)],
  );
  await c.query(
    `UPDATE realtime.call_participant
        SET state = CASE state WHEN 'joined' THEN 'left' ELSE 'missed' END, left_at = now(), updated_at = now()
      WHERE call_id = $1 AND state IN ('joined', 'invited')`,
    [callId],
  );
}
