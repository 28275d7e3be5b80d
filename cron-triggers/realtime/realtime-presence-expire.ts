import type { CronHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { expirePresence } from '../../src/plugins/realtime/lib/presence.js';

/**
 * Every minute: devices without a heartbeat go away, then offline; expired custom statuses clear; long-offline
 * devices are removed. Each step is a condition on the rows themselves, so a redelivered event changes nothing.
 */
export const realtimePresenceExpire: CronHandler<unknown, RealtimeConfig> = async (_cron, ctx) => {
  const r = await expirePresence(ctx.db, {
    awayAfterSeconds: ctx.config.REALTIME_AWAY_AFTER_SECONDS,
    offlineAfterSeconds: ctx.config.REALTIME_OFFLINE_AFTER_SECONDS,
    retentionDays: ctx.config.REALTIME_PRESENCE_RETENTION_DAYS,
  });
  if (r.away + r.offline + r.customCleared + r.devicesRemoved > 0) ctx.log.info(r, 'presence expired');
};
