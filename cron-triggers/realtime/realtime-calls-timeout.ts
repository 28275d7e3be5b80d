import type { CronHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { timeOutCalls } from '../../src/plugins/realtime/lib/calls.js';

/**
 * Every minute: ringing calls nobody answered in REALTIME_CALL_RING_SECONDS become missed (and callees of an
 * active call who never answered). Every call action applies the same rule to its own call first, so the
 * minute's granularity never lets a late answer through.
 */
export const realtimeCallsTimeout: CronHandler<unknown, RealtimeConfig> = async (_cron, ctx) => {
  const r = await timeOutCalls(ctx.db);
  if (r.calls + r.participants) ctx.log.info(r, 'ringing calls timed out');
};
