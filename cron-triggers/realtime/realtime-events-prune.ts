import type { CronHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { pruneEvents } from '../../src/plugins/realtime/lib/broadcast.js';

/** Hourly: removes broadcast events older than REALTIME_EVENT_RETENTION_HOURS, in batches. */
export const realtimeEventsPrune: CronHandler<unknown, RealtimeConfig> = async (_cron, ctx) => {
  const removed = await pruneEvents(ctx.db, ctx.config.REALTIME_EVENT_RETENTION_HOURS);
  if (removed) ctx.log.info({ removed }, 'events pruned');
};
