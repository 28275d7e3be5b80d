import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { eventType } from './realtime-broadcast.js';
import { broadcastMany } from '../../src/plugins/realtime/lib/broadcast.js';
import { realtimeError } from '../../src/plugins/realtime/lib/errors.js';
import { jsonBytes, parseInput, roomId } from '../../src/plugins/realtime/lib/input.js';

const input = z.object({
  broadcasts: z
    .array(z.object({ rooms: z.array(roomId).min(1), type: eventType, payload: z.unknown().optional(), dedupKey: z.string().min(1).max(200).nullish() }))
    .min(1)
    .max(1000),
});

export const realtimeBroadcastMany: ActionHandler<unknown, unknown, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const rooms = i.broadcasts.reduce((n, b) => n + b.rooms.length, 0);
  if (rooms > ctx.config.REALTIME_BROADCAST_MAX_ROOMS) {
    throw realtimeError('realtime/too-many-rooms', `${rooms} rooms in one call; at most ${ctx.config.REALTIME_BROADCAST_MAX_ROOMS}`);
  }
  i.broadcasts.forEach((b, n) => jsonBytes(b.payload ?? {}, ctx.config.REALTIME_BROADCAST_MAX_BYTES, `broadcasts.${n}.payload`));
  return broadcastMany(
    ctx.db,
    i.broadcasts.map((b) => ({ rooms: b.rooms, type: b.type, payload: b.payload ?? {}, dedupKey: b.dedupKey ?? null })),
    ctx.session.userId,
  );
};
