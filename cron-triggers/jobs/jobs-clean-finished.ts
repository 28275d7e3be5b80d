import type { CronHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/**
 * Hourly: removes completed and failed jobs past their retention age from every queue. BullMQ applies age
 * limits only when another job finishes, so without this an idle queue keeps old jobs (and Redis memory)
 * forever. Removing by age is idempotent, so a redelivered cron event is harmless.
 */
export const jobsCleanFinished: CronHandler<unknown, JobsConfig> = async (_cron, ctx) => {
  const cleaned = await ctx.service(jobsService).cleanFinished();
  const total = cleaned.reduce((n, c) => n + c.completed + c.failed, 0);
  ctx.log.info({ total, cleaned: cleaned.filter((c) => c.completed + c.failed > 0) }, 'finished jobs cleaned');
};
