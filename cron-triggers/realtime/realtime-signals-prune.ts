import type { CronHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { pruneSignals } from '../../src/plugins/realtime/lib/signals.js';

/** Every 10 minutes: removes signals older than REALTIME_SIGNAL_RETENTION_MINUTES (they only matter while a call connects). */
export const realtimeSignalsPrune: CronHandler<unknown, RealtimeConfig> = async (_cron, ctx) => {
  const removed = await pruneSignals(ctx.db, ctx.config.REALTIME_SIGNAL_RETENTION_MINUTES);
  if (removed) ctx.log.info({ removed }, 'signals pruned');
};
