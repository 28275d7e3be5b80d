/**
 * Presence per device. A heartbeat is one statement: it upserts the device row unless the device wrote less
 * than REALTIME_HEARTBEAT_MIN_INTERVAL_MS ago with nothing changed, in which case it writes nothing and reports
 * `throttled`. The limit is the row's own `last_seen_at`, so it holds across any number of replicas.
 */
import type { Db, Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { prepared } from '../../../core/prepared.js';

export type Status = 'online' | 'away' | 'dnd' | 'offline';

export interface PresenceResult {
  userId: string;
  deviceId: string | null;
  status: Status;
  customStatus: string | null;
  customEmoji: string | null;
  currentRoomId: string | null;
  lastSeenAt: string | null;
  throttled: boolean;
}

interface Row {
  ok: boolean;
  status: Status | null;
  custom_status: string | null;
  custom_emoji: string | null;
  current_room_id: string | null;
  last_seen_at: Date | null;
  throttled: boolean | null;
}

/** $1 user, $2 device, $3 platform, $4 current room, $5 'online' | 'away' (idle), $6 min interval in ms. */
export const HEARTBEAT_SQL = `
WITH m AS (
  SELECT ($4::text IS NULL OR EXISTS (SELECT 1 FROM realtime.room_member WHERE room_id = $4 AND user_id = $1)) AS ok
), up AS (
  INSERT INTO realtime.presence AS p (user_id, device_id, status, chosen_status, custom_status, custom_emoji,
                                      custom_status_expires_at, platform, current_room_id)
  SELECT $1, $2, coalesce(u.chosen_status, $5), u.chosen_status, u.custom_status, u.custom_emoji,
         u.custom_status_expires_at, $3, $4
    FROM m LEFT JOIN LATERAL (
           SELECT q.chosen_status, q.custom_status, q.custom_emoji, q.custom_status_expires_at
             FROM realtime.presence q WHERE q.user_id = $1 ORDER BY q.updated_at DESC LIMIT 1) u ON true
   WHERE m.ok
  ON CONFLICT (user_id, device_id) DO UPDATE
     SET status = coalesce(p.chosen_status, $5),
         platform = coalesce(excluded.platform, p.platform),
         current_room_id = excluded.current_room_id,
         last_seen_at = now(),
         updated_at = CASE WHEN p.status IS DISTINCT FROM coalesce(p.chosen_status, $5)
                             OR p.current_room_id IS DISTINCT FROM excluded.current_room_id
                           THEN now() ELSE p.updated_at END
   WHERE p.last_seen_at <= now() - $6::int * interval '1 millisecond'
      OR p.status IS DISTINCT FROM coalesce(p.chosen_status, $5)
      OR p.current_room_id IS DISTINCT FROM excluded.current_room_id
  RETURNING p.status, p.custom_status, p.custom_emoji, p.current_room_id, p.last_seen_at, false AS throttled
), res AS (
  SELECT * FROM up
  UNION ALL
  SELECT q.status, q.custom_status, q.custom_emoji, q.current_room_id, q.last_seen_at, true
    FROM realtime.presence q WHERE q.user_id = $1 AND q.device_id = $2 AND NOT EXISTS (SELECT 1 FROM up)
)
SELECT m.ok, res.* FROM m LEFT JOIN res ON true`;

export interface HeartbeatInput {
  userId: string;
  deviceId: string;
  platform: string | null;
  roomId: string | null;
  idle: boolean;
  minIntervalMs: number;
}

export async function heartbeat(q: Queryable, i: HeartbeatInput): Promise<PresenceResult> {
  const r = await prepared<Row>(q, 'realtime_heartbeat', HEARTBEAT_SQL, [i.userId, i.deviceId, i.platform, i.roomId, i.idle ? 'away' : 'online', i.minIntervalMs]);
  const row = r.rows[0]!;
  if (!row.ok) throw realtimeError('realtime/not-a-member', `you are not a member of ${i.roomId}`);
  if (row.status === null) {
    // A concurrent first heartbeat of this device committed the row after this statement's snapshot: our insert
    // met its conflict and wrote nothing (throttled), and the snapshot cannot show the row. Read it now.
    const again = await q.query<Omit<Row, 'ok'>>(
      'SELECT status, custom_status, custom_emoji, current_room_id, last_seen_at, true AS throttled FROM realtime.presence WHERE user_id = $1 AND device_id = $2',
      [i.userId, i.deviceId],
    );
    return toResult(i.userId, i.deviceId, again.rows[0] ?? { ...row, throttled: true });
  }
  return toResult(i.userId, i.deviceId, row);
}

function toResult(userId: string, deviceId: string | null, row: Omit<Row, 'ok'>): PresenceResult {
  return {
    userId,
    deviceId,
    status: row.status ?? 'offline',
    customStatus: row.custom_status,
    customEmoji: row.custom_emoji,
    currentRoomId: row.current_room_id,
    lastSeenAt: row.last_seen_at ? row.last_seen_at.toISOString() : null,
    throttled: row.throttled ?? false,
  };
}

export interface SetStatusInput {
  userId: string;
  status: Status;
  /** undefined: unchanged; null: cleared. */
  customStatus?: string | null;
  customEmoji?: string | null;
  clearAfterSeconds?: number | null;
  deviceId?: string | null;
  awayAfterSeconds: number;
  offlineAfterSeconds: number;
}

/**
 * The status a user chose, on every device: away and dnd stick until changed (heartbeats keep them), offline
 * makes the user invisible, online goes back to what each device's heartbeats say.
 */
export async function setStatus(db: Db, i: SetStatusInput): Promise<PresenceResult> {
  const chosen = i.status === 'online' ? null : i.status;
  const custom = i.customStatus !== undefined || i.customEmoji !== undefined;
  return db.tx(async (c) => {
    // Serialises concurrent status changes of one user (and heartbeats creating a new device row meanwhile).
    await c.query(`SELECT pg_advisory_xact_lock(hashtextextended('realtime.presence:' || $1, 0))`, [i.userId]);
    let device = i.deviceId ?? null;
    if (!device) {
      const n = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM realtime.presence WHERE user_id = $1', [i.userId]);
      if (n.rows[0]!.n === 0) device = 'default';
    }
    if (device) {
      await c.query(
        `INSERT INTO realtime.presence (user_id, device_id, status) VALUES ($1, $2, 'online')
         ON CONFLICT (user_id, device_id) DO UPDATE SET last_seen_at = now()`,
        [i.userId, device],
      );
    }
    await c.query(
      `UPDATE realtime.presence
          SET chosen_status = $2::text,
              status = CASE
                WHEN $2::text = 'offline' THEN 'offline'
                WHEN last_seen_at < now() - $4::int * interval '1 second' THEN 'offline'
                WHEN $2::text IS NOT NULL THEN $2::text
                WHEN last_seen_at < now() - $3::int * interval '1 second' THEN 'away'
                ELSE 'online' END,
              custom_status = CASE WHEN $5 THEN $6 ELSE custom_status END,
              custom_emoji = CASE WHEN $5 THEN $7 ELSE custom_emoji END,
              custom_status_expires_at = CASE WHEN $5 THEN now() + $8::int * interval '1 second' ELSE custom_status_expires_at END,
              updated_at = now()
        WHERE user_id = $1`,
      [i.userId, chosen, i.awayAfterSeconds, i.offlineAfterSeconds, custom, i.customStatus ?? null, i.customEmoji ?? null, i.clearAfterSeconds ?? null],
    );
    const r = await c.query<Omit<Row, 'ok'>>(
      `SELECT status, custom_status, custom_emoji, current_room_id, last_seen_at, false AS throttled
         FROM realtime.user_presence WHERE user_id = $1`,
      [i.userId],
    );
    return toResult(i.userId, i.deviceId ?? null, r.rows[0]!);
  });
}

export interface ExpiryResult {
  away: number;
  offline: number;
  customCleared: number;
  devicesRemoved: number;
}

/** The cron's work: silent devices go away, then offline; expired custom statuses clear; old devices go. */
export async function expirePresence(q: Queryable, o: { awayAfterSeconds: number; offlineAfterSeconds: number; retentionDays: number }): Promise<ExpiryResult> {
  const offline = await q.query(
    `UPDATE realtime.presence SET status = 'offline', updated_at = now()
      WHERE status <> 'offline' AND last_seen_at < now() - $1::int * interval '1 second'`,
    [o.offlineAfterSeconds],
  );
  const away = await q.query(
    `UPDATE realtime.presence SET status = 'away', updated_at = now()
      WHERE status = 'online' AND last_seen_at < now() - $1::int * interval '1 second'`,
    [o.awayAfterSeconds],
  );
  const custom = await q.query(
    `UPDATE realtime.presence SET custom_status = NULL, custom_emoji = NULL, custom_status_expires_at = NULL, updated_at = now()
      WHERE custom_status_expires_at < now()`,
  );
  // Each user keeps their most recent device row, so "last seen" outlives the retention.
  const removed = await q.query(
    `DELETE FROM realtime.presence p
      WHERE p.status = 'offline' AND p.last_seen_at < now() - $1::int * interval '1 day'
        AND EXISTS (SELECT 1 FROM realtime.presence q
                     WHERE q.user_id = p.user_id AND (q.last_seen_at, q.device_id) > (p.last_seen_at, p.device_id))`,
    [o.retentionDays],
  );
  return { away: away.rowCount ?? 0, offline: offline.rowCount ?? 0, customCleared: custom.rowCount ?? 0, devicesRemoved: removed.rowCount ?? 0 };
}
