import type { CronHandler } from '../../src/core/plugin.js';
import { pruneEventReceipts, pruneHasuraEventLog, pruneSelftestRuns } from '../../src/plugins/core/lib/prune.js';
import type { CoreConfig } from '../../src/plugins/core/config.js';

/**
 * Daily housekeeping: old event receipts, old self-test runs, and Hasura's delivered event-log rows of the
 * suite's own triggers. Deleting by age is idempotent, so a redelivered cron event is harmless.
 */
export const coreHousekeeping: CronHandler<unknown, CoreConfig> = async (_cron, ctx) => {
  const { ALL_PLUGINS } = await import('../../src/plugins/index.js');
  const enabled = new Set(ctx.core.PLUGINS_ENABLED);
  const triggerNames = ALL_PLUGINS.filter((p) => enabled.has(p.name)).flatMap((p) =>
    (p.tables ?? []).flatMap((t) => (t.event_triggers ?? []).map((e) => e.name)),
  );
  const receipts = await pruneEventReceipts(ctx.db, ctx.config.CORE_RECEIPT_RETENTION_DAYS);
  const runs = await pruneSelftestRuns(ctx.db, ctx.config.CORE_SELFTEST_RETENTION_DAYS);
  const events = await pruneHasuraEventLog(ctx.db, ctx.config.CORE_HASURA_EVENT_LOG_RETENTION_DAYS, triggerNames);
  ctx.log.info({ receipts, runs, events }, 'core housekeeping done');
};
