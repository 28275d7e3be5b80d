import type { CronHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { pruneDeadLetters } from '../../src/plugins/jobs/lib/dead-letter.js';

/** Daily: keeps jobs.dead_letter within JOBS_DEAD_LETTER_RETENTION_DAYS and JOBS_DEAD_LETTER_MAX_ROWS. */
export const jobsPruneDeadLetters: CronHandler<unknown, JobsConfig> = async (_cron, ctx) => {
  const pruned = await pruneDeadLetters(ctx.db, ctx.config.JOBS_DEAD_LETTER_RETENTION_DAYS, ctx.config.JOBS_DEAD_LETTER_MAX_ROWS);
  ctx.log.info(pruned, 'dead letters pruned');
};
