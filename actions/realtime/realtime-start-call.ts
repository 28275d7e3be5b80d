import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { startCall, type Call } from '../../src/plugins/realtime/lib/calls.js';
import { parseInput, roomId, userId } from '../../src/plugins/realtime/lib/input.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({ type: z.enum(['audio', 'video', 'screen']), userIds: z.array(userId).min(1).max(100).nullish(), roomId: roomId.nullish() });

export const realtimeStartCall: ActionHandler<unknown, Call, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const caller = requireUser(ctx);
  return startCall(ctx.db, {
    callerId: caller,
    type: i.type,
    userIds: i.userIds ?? null,
    roomId: i.roomId ?? null,
    ringSeconds: ctx.config.REALTIME_CALL_RING_SECONDS,
    maxParticipants: ctx.config.REALTIME_CALL_MAX_PARTICIPANTS,
    requireSharedRoom: ctx.config.REALTIME_CALL_REQUIRE_SHARED_ROOM,
  });
};
