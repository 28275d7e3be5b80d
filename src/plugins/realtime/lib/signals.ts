/**
 * WebRTC signals between participants of a ringing or active call. Each signal is a row addressed to one
 * user (a media-state signal without a recipient goes to every other participant); recipients read only their
 * own rows through a `_stream` subscription. mute / video / screen-share also update the sender's media state on
 * the participant row, so someone joining later sees it; hangup leaves the call as realtimeEndCall does.
 */
import { z } from 'zod';
import type { Db, Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { jsonBytes } from './input.js';

export const SIGNAL_KINDS = ['offer', 'answer', 'ice', 'renegotiate', 'hangup', 'mute', 'video', 'screen-share'] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];
/** GraphQL enum values cannot contain "-". */
export const kindFromGraphql = (v: string): SignalKind => (v === 'screen_share' ? 'screen-share' : (v as SignalKind));

const sdpPayload = (maxBytes: number) =>
  z.object({
    sdp: z.string({ message: 'sdp must be a string' }).min(1).refine((s) => Buffer.byteLength(s, 'utf8') <= maxBytes, { message: `sdp is longer than ${maxBytes} bytes` }),
    type: z.enum(['offer', 'answer', 'pranswer', 'rollback']).optional(),
  });

/** What each kind carries; anything else in the payload is refused rather than relayed unchecked. */
export function payloadSchema(kind: SignalKind, maxBytes: number): z.ZodType {
  switch (kind) {
    case 'offer':
    case 'answer':
    case 'renegotiate':
      return sdpPayload(maxBytes).strict();
    case 'ice':
      return z
        .object({
          // null: end of candidates
          candidate: z.string().max(2048).nullable(),
          sdpMid: z.string().max(64).nullish(),
          sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
          usernameFragment: z.string().max(256).nullish(),
        })
        .strict();
    case 'hangup':
      return z.object({ reason: z.string().max(200).nullish() }).strict();
    case 'mute':
      return z.object({ audio: z.boolean() }).strict();
    case 'video':
    case 'screen-share':
      return z.object({ enabled: z.boolean() }).strict();
  }
}

export function parseSignalPayload(kind: SignalKind, payload: unknown, maxBytes: number): Record<string, unknown> {
  jsonBytes(payload, maxBytes + 1024, 'the signal payload');
  const r = payloadSchema(kind, maxBytes).safeParse(payload ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? `payload.${i.path.map(String).join('.')}` : 'payload'}: ${i.message}`);
    const tooLong = r.error.issues.some((i) => /longer than/.test(i.message));
    if (tooLong) throw realtimeError('realtime/payload-too-large', problems.join('; '), { problems });
    throw realtimeError('realtime/invalid-signal', `invalid ${kind} signal: ${problems.join('; ')}`, { problems });
  }
  return r.data as Record<string, unknown>;
}

/** $1 call, $2 sender, $3 recipient (null: every other live participant), $4 kind, $5 payload. */
export const SEND_SIGNAL_SQL = `
WITH ok AS (
  SELECT 1 FROM realtime.call c JOIN realtime.call_participant s ON s.call_id = c.id AND s.user_id = $2
   WHERE c.id = $1 AND c.state IN ('ringing', 'active') AND s.state IN ('invited', 'joined')
     AND NOT (c.state = 'ringing' AND c.ring_expires_at <= now())
), r AS (
  SELECT p.user_id FROM realtime.call_participant p, ok
   WHERE p.call_id = $1 AND p.user_id <> $2 AND p.state IN ('invited', 'joined') AND ($3::text IS NULL OR p.user_id = $3)
)
INSERT INTO realtime.signal (call_id, from_user_id, to_user_id, kind, payload)
SELECT $1, $2, r.user_id, $4, $5::jsonb FROM r
RETURNING id::text, to_user_id`;

const MEDIA: Partial<Record<SignalKind, string>> = { mute: 'audio_muted', video: 'video_enabled', 'screen-share': 'screen_sharing' };

export async function sendSignal(
  db: Db,
  i: { callId: string; from: string; to: string | null; kind: SignalKind; payload: Record<string, unknown> },
): Promise<{ ids: string[]; recipients: string[] }> {
  if (i.to === i.from) throw realtimeError('realtime/not-a-participant', 'you cannot signal yourself');
  if (i.to === null && !MEDIA[i.kind] && i.kind !== 'hangup') throw realtimeError('realtime/invalid-input', `a ${i.kind} signal needs toUserId`);
  return db.tx(async (c) => {
    const r = await c.query<{ id: string; to_user_id: string }>(SEND_SIGNAL_SQL, [i.callId, i.from, i.to, i.kind, JSON.stringify(i.payload)]);
    if (!r.rowCount) await explainRefusal(c, i.callId, i.from, i.to);
    const column = MEDIA[i.kind];
    if (column) {
      const value = i.kind === 'mute' ? i.payload.audio : i.payload.enabled;
      await c.query(`UPDATE realtime.call_participant SET ${column} = $3, updated_at = now() WHERE call_id = $1 AND user_id = $2`, [i.callId, i.from, value]);
    }
    return { ids: r.rows.map((x) => x.id), recipients: r.rows.map((x) => x.to_user_id) };
  });
}

/** Why nothing was sent: no such call for the sender (404), the call is over (409), or the recipient is not in it (403). */
async function explainRefusal(q: Queryable, callId: string, from: string, to: string | null): Promise<never> {
  const r = await q.query<{ state: string; ring_expires_at: Date; sender: string | null; recipient: string | null }>(
    `SELECT c.state, c.ring_expires_at,
            (SELECT state FROM realtime.call_participant WHERE call_id = c.id AND user_id = $2) AS sender,
            (SELECT state FROM realtime.call_participant WHERE call_id = c.id AND user_id = $3) AS recipient
       FROM realtime.call c WHERE c.id = $1`,
    [callId, from, to],
  );
  const row = r.rows[0];
  if (!row || row.sender === null) throw realtimeError('realtime/call-not-found');
  const live = (row.state === 'ringing' && row.ring_expires_at > new Date()) || row.state === 'active';
  if (!live) throw realtimeError('realtime/call-ended', `the call has ended (${row.state === 'ringing' ? 'missed' : row.state})`);
  if (row.sender !== 'invited' && row.sender !== 'joined') throw realtimeError('realtime/call-ended', `you already left this call (${row.sender})`);
  if (to === null) throw realtimeError('realtime/not-a-participant', 'nobody else is in the call');
  throw realtimeError('realtime/not-a-participant', row.recipient ? `the recipient is no longer in the call (${row.recipient})` : undefined);
}

export async function pruneSignals(q: Queryable, retentionMinutes: number, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await q.query(
      `DELETE FROM realtime.signal WHERE id IN (
         SELECT id FROM realtime.signal WHERE created_at < now() - $1::int * interval '1 minute' ORDER BY id LIMIT $2)`,
      [retentionMinutes, batch],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < batch) return total;
  }
}
