import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { endCall, type Call } from '../../src/plugins/realtime/lib/calls.js';
import { parseInput, uuid } from '../../src/plugins/realtime/lib/input.js';
import { isService, requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({ callId: uuid, reason: z.string().min(1).max(200).nullish() });

export const realtimeEndCall: ActionHandler<unknown, Call, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const service = isService(ctx);
  const user = service ? ctx.session.userId : requireUser(ctx);
  return endCall(ctx.db, i.callId, { userId: user, service }, i.reason ?? null);
};
