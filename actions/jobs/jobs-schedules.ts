import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import type { JobsSchedule } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Every cron schedule across the queues. */
export const jobsSchedules: ActionHandler<unknown, JobsSchedule[], JobsConfig> = async (_input, ctx) => {
  return ctx.service(jobsService).schedules();
};
