import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { memberRole, parseInput, roomId, userId } from '../../src/plugins/realtime/lib/input.js';
import { joinRoom, type Membership } from '../../src/plugins/realtime/lib/rooms.js';
import { realtimeError } from '../../src/plugins/realtime/lib/errors.js';
import { isService, requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({ roomId, userId: userId.nullish(), role: memberRole.nullish() });

export const realtimeJoinRoom: ActionHandler<unknown, Membership, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const service = isService(ctx);
  const actor = service ? ctx.session.userId : requireUser(ctx);
  const target = i.userId ?? actor;
  if (!target) throw realtimeError('realtime/invalid-input', 'userId is required when the session has no user');
  return joinRoom(ctx.db, { userId: actor, service }, i.roomId, target, i.role ?? null);
};
