import type { EventHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { realtimeCallNotifier } from '../../src/plugins/realtime/lib/notify.js';

interface ParticipantRow {
  call_id: string;
  user_id: string;
  role: string;
  state: string;
}

/**
 * Notifies a callee of an incoming call (a callee row inserted as invited) and of a missed call (invited →
 * missed), through the notifications plugin when it is enabled. The notifications plugin stores one
 * notification per idempotency key, so a redelivered event notifies once.
 */
export const realtimeParticipantNotify: EventHandler<ParticipantRow, RealtimeConfig> = async (event, ctx) => {
  const { old: before, new: after } = event.event.data;
  if (!after || after.role !== 'callee') return { skipped: 'not a callee' };
  const incoming = event.event.op === 'INSERT' && after.state === 'invited';
  const missed = event.event.op === 'UPDATE' && before?.state === 'invited' && after.state === 'missed';
  if (!incoming && !missed) return { skipped: `nothing to notify (${before?.state ?? 'new'} → ${after.state})` };
  const { notifier } = ctx.service(realtimeCallNotifier);
  if (!notifier) return { skipped: 'the notifications plugin is not enabled' };
  const call = await ctx.db.query<{ initiator_id: string; type: string; room_id: string | null; state: string }>(
    'SELECT initiator_id, type, room_id, state FROM realtime.call WHERE id = $1',
    [after.call_id],
  );
  const c = call.rows[0];
  if (!c) return { skipped: 'the call no longer exists' };
  const notice = { callId: after.call_id, calleeId: after.user_id, callerId: c.initiator_id, type: c.type, roomId: c.room_id };
  if (incoming) {
    // Delivered late (the call was answered or ended meanwhile): ringing someone now would be wrong.
    if (c.state !== 'ringing') return { skipped: `the call is ${c.state}` };
    await notifier.incoming(notice);
  } else {
    await notifier.missed(notice);
  }
};
