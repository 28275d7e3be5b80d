import type { CronHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { pruneRateLimits } from '../../src/plugins/realtime/lib/broadcast.js';
import { pruneTyping } from '../../src/plugins/realtime/lib/typing.js';

/**
 * Every minute: removes expired typing rows (readers never see them: realtime.active_typing hides them at once)
 * and rate-limit counters of windows that have ended.
 */
export const realtimeTypingPrune: CronHandler<unknown, RealtimeConfig> = async (_cron, ctx) => {
  const removed = await pruneTyping(ctx.db);
  const counters = await pruneRateLimits(ctx.db);
  if (removed || counters) ctx.log.debug({ removed, counters }, 'typing and rate-limit counters pruned');
};
