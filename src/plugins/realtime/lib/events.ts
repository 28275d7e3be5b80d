/**
 * Inserting broadcast events. Every insert into a room first takes a transaction-scoped advisory lock on the
 * room, so within a room ids are assigned and committed in order: a `_stream` subscriber whose cursor is the
 * last id it saw can never skip an event that committed late (sequence values are otherwise handed out before
 * commit, in any order). The lock lives in the same statement as the insert: one round trip.
 */
import type { Queryable } from '../../../core/plugin.js';

export interface EventInput {
  roomId: string;
  type: string;
  payload: unknown;
  senderId: string | null;
  dedupKey?: string | null;
}

export interface InsertedEvent {
  id: string;
  roomId: string;
  type: string;
  createdAt: string;
  duplicate: boolean;
  recipientCount: number;
}

/** A system event (member joined/left) written inside the caller's transaction. */
export async function insertSystemEvent(q: Queryable, roomId: string, type: string, payload: Record<string, unknown>, senderId: string | null): Promise<void> {
  await q.query(
    `WITH lock AS (SELECT pg_advisory_xact_lock(hashtextextended('realtime.room:' || $1, 0)))
     INSERT INTO realtime.event (room_id, type, payload, sender_id) SELECT $1, $2, $3, $4 FROM lock`,
    [roomId, type, JSON.stringify(payload), senderId],
  );
}

/**
 * Inserts events for many rooms in one statement (room locks taken in id order, so two such statements never
 * deadlock). Rows whose (room, dedup key) exists already are reported as duplicates with the stored id.
 */
export async function insertEvents(q: Queryable, events: readonly EventInput[]): Promise<InsertedEvent[]> {
  if (events.length === 0) return [];
  const rooms = events.map((e) => e.roomId);
  const res = await q.query<{ idx: number; id: string; created_at: Date; recipients: number; duplicate: boolean }>(
    `WITH input AS (
       SELECT i.idx::int AS idx, i.room_id, i.type, i.payload, i.sender_id, i.dedup_key
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[]) WITH ORDINALITY
              AS i(room_id, type, payload, sender_id, dedup_key, idx)
     ), locks AS MATERIALIZED (
       SELECT count(pg_advisory_xact_lock(hashtextextended('realtime.room:' || r.room_id, 0))) AS n
         FROM (SELECT DISTINCT room_id FROM input ORDER BY room_id) r
     ), numbered AS MATERIALIZED (
       -- ids drawn only once every room lock is held
       SELECT i.*, nextval(pg_get_serial_sequence('realtime.event', 'id')) AS id
         FROM locks, (SELECT * FROM input ORDER BY idx) i
     ), ins AS (
       INSERT INTO realtime.event (id, room_id, type, payload, sender_id, dedup_key) OVERRIDING SYSTEM VALUE
       SELECT n.id, n.room_id, n.type, n.payload, n.sender_id, n.dedup_key FROM numbered n ORDER BY n.id
       ON CONFLICT (room_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
       RETURNING id, created_at
     )
     SELECT n.idx, coalesce(ins.id, old.id)::text AS id, coalesce(ins.created_at, old.created_at) AS created_at,
            (ins.id IS NULL) AS duplicate,
            (SELECT count(*) FROM realtime.room_member m WHERE m.room_id = n.room_id)::int AS recipients
       FROM numbered n
       LEFT JOIN ins ON ins.id = n.id
       LEFT JOIN realtime.event old ON ins.id IS NULL AND old.room_id = n.room_id AND old.dedup_key = n.dedup_key
      ORDER BY n.idx`,
    [rooms, events.map((e) => e.type), events.map((e) => JSON.stringify(e.payload ?? {})), events.map((e) => e.senderId), events.map((e) => e.dedupKey ?? null)],
  );
  return res.rows.map((r) => ({
    id: r.id,
    roomId: events[r.idx - 1]!.roomId,
    type: events[r.idx - 1]!.type,
    createdAt: r.created_at.toISOString(),
    duplicate: r.duplicate,
    recipientCount: r.recipients,
  }));
}
