import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { parseInput, roomId, threadId } from '../../src/plugins/realtime/lib/input.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';
import { stopTyping, type TypingResult } from '../../src/plugins/realtime/lib/typing.js';

const input = z.object({ roomId, threadId: threadId.nullish() });

export const realtimeStopTyping: ActionHandler<unknown, TypingResult, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const user = requireUser(ctx);
  return stopTyping(ctx.db, { roomId: i.roomId, userId: user, threadId: i.threadId ?? null });
};
