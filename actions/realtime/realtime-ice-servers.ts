import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { iceServers, type IceServers } from '../../src/plugins/realtime/lib/ice.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';

/** Time-limited TURN credentials for the caller: coturn checks them with the shared secret, nothing is stored. */
export const realtimeIceServers: ActionHandler<unknown, IceServers, RealtimeConfig> = async (_raw, ctx) => {
  const user = requireUser(ctx);
  const c = ctx.config;
  return iceServers({ stunUrls: c.REALTIME_STUN_URLS, turnUrls: c.REALTIME_TURN_URLS, secret: c.REALTIME_TURN_SECRET, ttlSeconds: c.REALTIME_TURN_TTL_SECONDS }, user);
};
