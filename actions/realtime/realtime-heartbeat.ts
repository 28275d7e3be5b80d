import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { deviceId, parseInput, roomId } from '../../src/plugins/realtime/lib/input.js';
import { heartbeat, type PresenceResult } from '../../src/plugins/realtime/lib/presence.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';

const input = z.object({ deviceId, platform: z.string().min(1).max(32).nullish(), roomId: roomId.nullish(), idle: z.boolean().nullish() });

export const realtimeHeartbeat: ActionHandler<unknown, PresenceResult, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const user = requireUser(ctx);
  return heartbeat(ctx.db, {
    userId: user,
    deviceId: i.deviceId,
    platform: i.platform ?? null,
    roomId: i.roomId ?? null,
    idle: i.idle ?? false,
    minIntervalMs: ctx.config.REALTIME_HEARTBEAT_MIN_INTERVAL_MS,
  });
};
