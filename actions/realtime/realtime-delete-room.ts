import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { parseInput, roomId } from '../../src/plugins/realtime/lib/input.js';
import { deleteRoom } from '../../src/plugins/realtime/lib/rooms.js';

const input = z.object({ id: roomId });

/** Deletes a room and everything in it (service role); deleting a room that does not exist answers deleted: false. */
export const realtimeDeleteRoom: ActionHandler<unknown, { id: string; deleted: boolean }, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  return deleteRoom(ctx.db, i.id);
};
