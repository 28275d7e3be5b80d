import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { broadcast, broadcastMany } from '../../src/plugins/realtime/lib/broadcast.js';
import type { InsertedEvent } from '../../src/plugins/realtime/lib/events.js';
import { jsonText, parseInput, roomId } from '../../src/plugins/realtime/lib/input.js';
import { isService, requireUser } from '../../src/plugins/realtime/lib/session.js';

/** Types with the system prefix "member:" are written only by the plugin itself. */
export const eventType = z.string().min(1).max(100).refine((t) => !t.startsWith('member:'), { message: 'types starting with "member:" are reserved' });
const input = z.object({ roomId, type: eventType, payload: z.unknown().optional(), dedupKey: z.string().min(1).max(200).nullish() });

export const realtimeBroadcast: ActionHandler<unknown, InsertedEvent, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const payload = i.payload ?? {};
  const text = jsonText(payload, ctx.config.REALTIME_BROADCAST_MAX_BYTES, 'the payload');
  // The service role is no member of anything: it broadcasts to any room, as realtimeBroadcastMany does.
  if (isService(ctx)) {
    const res = await broadcastMany(ctx.db, [{ rooms: [i.roomId], type: i.type, payload, dedupKey: i.dedupKey ?? null }], ctx.session.userId);
    return res.events[0]!;
  }
  const user = requireUser(ctx);
  return broadcast(ctx.db, { roomId: i.roomId, type: i.type, payloadJson: text, senderId: user, dedupKey: i.dedupKey ?? null, perMinute: ctx.config.REALTIME_BROADCAST_PER_MINUTE });
};
