import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { declineCall, type Call } from '../../src/plugins/realtime/lib/calls.js';
import { parseInput, uuid } from '../../src/plugins/realtime/lib/input.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({ callId: uuid });

export const realtimeDeclineCall: ActionHandler<unknown, Call, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  return declineCall(ctx.db, i.callId, requireUser(ctx));
};
