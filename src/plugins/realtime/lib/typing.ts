/**
 * Typing indicators. Start is one statement: a member's row is created or renewed, unless it was renewed less
 * than REALTIME_TYPING_MIN_INTERVAL_MS ago (then nothing is written and `throttled` is reported). The limit is
 * the row's own `updated_at`, so it holds across replicas without a counter anywhere.
 */
import type { Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { prepared } from '../../../core/prepared.js';
import { findRoom } from './rooms.js';

export interface TypingResult {
  roomId: string;
  threadId: string | null;
  typing: boolean;
  expiresAt: string | null;
  throttled: boolean;
}

/** $1 room, $2 user, $3 thread, $4 ttl seconds, $5 min interval ms. */
export const START_TYPING_SQL = `
WITH m AS (
  SELECT EXISTS (SELECT 1 FROM realtime.room_member WHERE room_id = $1 AND user_id = $2) AS ok
), up AS (
  INSERT INTO realtime.typing AS t (room_id, user_id, thread_id, expires_at)
  SELECT $1, $2, $3, now() + $4::int * interval '1 second' FROM m WHERE m.ok
  ON CONFLICT (room_id, (coalesce(thread_id, '')), user_id) DO UPDATE
     SET expires_at = excluded.expires_at,
         updated_at = now(),
         started_at = CASE WHEN t.expires_at <= now() THEN now() ELSE t.started_at END
   WHERE t.updated_at <= now() - $5::int * interval '1 millisecond' OR t.expires_at <= now()
  RETURNING t.expires_at
)
SELECT m.ok,
       coalesce((SELECT expires_at FROM up),
                (SELECT t.expires_at FROM realtime.typing t
                  WHERE t.room_id = $1 AND coalesce(t.thread_id, '') = coalesce($3, '') AND t.user_id = $2)) AS expires_at,
       NOT EXISTS (SELECT 1 FROM up) AS throttled
  FROM m`;

/** Why a room-scoped write found no membership: 404 for an unknown room, 403 otherwise. */
export async function notMember(q: Queryable, roomId: string): Promise<never> {
  if (!(await findRoom(q, roomId))) throw realtimeError('realtime/room-not-found', `no room ${roomId}`);
  throw realtimeError('realtime/not-a-member', `you are not a member of ${roomId}`);
}

export async function startTyping(q: Queryable, i: { roomId: string; userId: string; threadId: string | null; ttlSeconds: number; minIntervalMs: number }): Promise<TypingResult> {
  const r = await prepared<{ ok: boolean; expires_at: Date | null; throttled: boolean }>(q, 'realtime_start_typing', START_TYPING_SQL, [i.roomId, i.userId, i.threadId, i.ttlSeconds, i.minIntervalMs]);
  const row = r.rows[0]!;
  if (!row.ok) return notMember(q, i.roomId);
  let expiresAt = row.expires_at;
  if (!expiresAt) {
    // A concurrent first start committed after this statement's snapshot (we wrote nothing): read its row now.
    const again = await q.query<{ expires_at: Date }>(
      `SELECT expires_at FROM realtime.typing WHERE room_id = $1 AND coalesce(thread_id, '') = coalesce($3, '') AND user_id = $2`,
      [i.roomId, i.userId, i.threadId],
    );
    expiresAt = again.rows[0]?.expires_at ?? null;
  }
  return { roomId: i.roomId, threadId: i.threadId, typing: true, expiresAt: expiresAt?.toISOString() ?? null, throttled: row.throttled };
}

export async function stopTyping(q: Queryable, i: { roomId: string; userId: string; threadId: string | null }): Promise<TypingResult> {
  const r = await q.query(
    `DELETE FROM realtime.typing WHERE room_id = $1 AND coalesce(thread_id, '') = coalesce($3, '') AND user_id = $2`,
    [i.roomId, i.userId, i.threadId],
  );
  if (!r.rowCount) {
    const m = await q.query('SELECT 1 FROM realtime.room_member WHERE room_id = $1 AND user_id = $2', [i.roomId, i.userId]);
    if (!m.rowCount) return notMember(q, i.roomId);
  }
  return { roomId: i.roomId, threadId: i.threadId, typing: false, expiresAt: null, throttled: false };
}

export async function pruneTyping(q: Queryable): Promise<number> {
  const r = await q.query('DELETE FROM realtime.typing WHERE expires_at <= now()');
  return r.rowCount ?? 0;
}
