import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { deviceId, parseInput } from '../../src/plugins/realtime/lib/input.js';
import { setStatus, type PresenceResult } from '../../src/plugins/realtime/lib/presence.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({
  status: z.enum(['online', 'away', 'dnd', 'offline']),
  customStatus: z.string().max(200).nullish(),
  customEmoji: z.string().max(64).nullish(),
  clearAfterSeconds: z.number().int().min(1).max(366 * 86_400).nullish(),
  deviceId: deviceId.nullish(),
});

export const realtimeSetStatus: ActionHandler<unknown, PresenceResult, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const user = requireUser(ctx);
  return setStatus(ctx.db, {
    userId: user,
    status: i.status,
    // Omitted keeps the custom status; null clears it (Hasura leaves omitted arguments out).
    ...(i.customStatus !== undefined ? { customStatus: i.customStatus } : {}),
    ...(i.customEmoji !== undefined ? { customEmoji: i.customEmoji } : {}),
    clearAfterSeconds: i.clearAfterSeconds ?? null,
    deviceId: i.deviceId ?? null,
    awayAfterSeconds: ctx.config.REALTIME_AWAY_AFTER_SECONDS,
    offlineAfterSeconds: ctx.config.REALTIME_OFFLINE_AFTER_SECONDS,
  });
};
