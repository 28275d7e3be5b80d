/**
 * Broadcasts: rows of realtime.event that room members read through a `_stream` subscription.
 * A member's broadcast is one statement (room lock, membership check, insert, recipient count); the service
 * role's realtimeBroadcastMany writes any number of rooms in one statement.
 */
import type { Db, Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { prepared } from '../../../core/prepared.js';
import { insertEvents, type InsertedEvent } from './events.js';
import { ensurePersonalRoom, personalRoomOf } from './rooms.js';
import { notMember } from './typing.js';

/**
 * $1 room, $2 type, $3 payload (json text), $4 sender, $5 dedup key, $6 broadcasts per minute per sender (0: no
 * limit). The sender's counter is a row of realtime.rate_limit (fixed one-minute windows), so the limit holds
 * across replicas; a refused broadcast still counts.
 */
export const BROADCAST_SQL = `
WITH rl AS MATERIALIZED (
  INSERT INTO realtime.rate_limit AS r (key, window_start, hits)
  SELECT 'broadcast:' || $4, date_trunc('minute', now()), 1 WHERE $6::int > 0
  ON CONFLICT (key) DO UPDATE
     SET hits = CASE WHEN r.window_start = excluded.window_start THEN r.hits + 1 ELSE 1 END,
         window_start = excluded.window_start
  RETURNING hits, window_start
), m AS MATERIALIZED (
  SELECT EXISTS (SELECT 1 FROM realtime.room_member WHERE room_id = $1 AND user_id = $4) AS ok,
         coalesce((SELECT hits FROM rl) <= $6::int, true) AS allowed
), lock AS MATERIALIZED (
  SELECT pg_advisory_xact_lock(hashtextextended('realtime.room:' || $1, 0)) FROM m WHERE m.ok AND m.allowed
), ins AS (
  INSERT INTO realtime.event (room_id, type, payload, sender_id, dedup_key)
  SELECT $1, $2, $3::jsonb, $4, $5 FROM lock
  ON CONFLICT (room_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id, created_at
)
SELECT m.ok, m.allowed, coalesce((SELECT id FROM ins), e.id)::text AS id, coalesce((SELECT created_at FROM ins), e.created_at) AS created_at,
       NOT EXISTS (SELECT 1 FROM ins) AS duplicate,
       (SELECT count(*) FROM realtime.room_member WHERE room_id = $1)::int AS recipients,
       (SELECT extract(epoch FROM window_start + interval '1 minute' - now()) FROM rl) AS retry_after
  FROM m LEFT JOIN realtime.event e ON m.ok AND m.allowed AND $5::text IS NOT NULL AND e.room_id = $1 AND e.dedup_key = $5`;

export async function broadcast(
  q: Queryable,
  i: { roomId: string; type: string; /** JSON text */ payloadJson: string; senderId: string; dedupKey: string | null; perMinute: number },
): Promise<InsertedEvent> {
  const r = await prepared<{ ok: boolean; allowed: boolean; id: string | null; created_at: Date | null; duplicate: boolean; recipients: number; retry_after: string | null }>(
    q,
    'realtime_broadcast',
    BROADCAST_SQL,
    [i.roomId, i.type, i.payloadJson, i.senderId, i.dedupKey, i.perMinute],
  );
  const row = r.rows[0]!;
  if (!row.allowed) {
    const retryAfterSeconds = Math.max(1, Math.ceil(Number(row.retry_after ?? 60)));
    throw realtimeError('realtime/rate-limited', `at most ${i.perMinute} broadcasts a minute; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
  if (!row.ok) return notMember(q, i.roomId);
  return { id: row.id!, roomId: i.roomId, type: i.type, createdAt: row.created_at!.toISOString(), duplicate: row.duplicate, recipientCount: row.recipients };
}

/** Counters of windows that have ended are worthless: the typing prune cron removes them. */
export async function pruneRateLimits(q: Queryable): Promise<number> {
  const r = await q.query(`DELETE FROM realtime.rate_limit WHERE window_start < now() - interval '2 minutes'`);
  return r.rowCount ?? 0;
}

export interface ManyInput {
  rooms: string[];
  type: string;
  payload: unknown;
  dedupKey: string | null;
}

/**
 * The app server's broadcast API: every listed room must exist (user:<id> rooms are created on first use);
 * one unknown room writes nothing. A dedup key (the app's event id) makes a repeated call store nothing new.
 */
export async function broadcastMany(db: Db, items: readonly ManyInput[], senderId: string | null) {
  const rooms = [...new Set(items.flatMap((i) => i.rooms))];
  return db.tx(async (c) => {
    for (const id of rooms) {
      const personal = personalRoomOf(id);
      if (personal !== null) await ensurePersonalRoom(c, personal);
    }
    const known = await c.query<{ id: string }>('SELECT id FROM realtime.room WHERE id = ANY($1::text[])', [rooms]);
    const found = new Set(known.rows.map((r) => r.id));
    const missing = rooms.filter((r) => !found.has(r));
    if (missing.length) throw realtimeError('realtime/room-not-found', `no room ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`, { rooms: missing.slice(0, 100) });
    const seen = new Set<string>();
    const events = items.flatMap((i) =>
      [...new Set(i.rooms)].flatMap((roomId) => {
        // The same (room, key) twice in one call is one event.
        if (i.dedupKey !== null) {
          const k = `${roomId}\u0000${i.dedupKey}`;
          if (seen.has(k)) return [];
          seen.add(k);
        }
        return [{ roomId, type: i.type, payload: i.payload, senderId, dedupKey: i.dedupKey }];
      }),
    );
    const inserted = await insertEvents(c, events);
    const recipients = await c.query<{ n: number }>('SELECT count(DISTINCT user_id)::int AS n FROM realtime.room_member WHERE room_id = ANY($1::text[])', [rooms]);
    return {
      inserted: inserted.filter((e) => !e.duplicate).length,
      duplicates: inserted.filter((e) => e.duplicate).length,
      recipientCount: recipients.rows[0]!.n,
      events: inserted,
    };
  });
}

export async function pruneEvents(q: Queryable, retentionHours: number, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await q.query(
      `DELETE FROM realtime.event WHERE id IN (
         SELECT id FROM realtime.event WHERE created_at < now() - $1::int * interval '1 hour' ORDER BY id LIMIT $2)`,
      [retentionHours, batch],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < batch) return total;
  }
}
