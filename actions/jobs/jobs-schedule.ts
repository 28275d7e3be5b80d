import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { parseInput, scheduleInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsSchedule } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Creates or replaces a cron schedule (with time zone) of a registered job. */
export const jobsSchedule: ActionHandler<unknown, JobsSchedule, JobsConfig> = async (input, ctx) => {
  const args = parseInput(scheduleInput, input);
  const schedule = await ctx.service(jobsService).schedule(args);
  ctx.log.info({ schedule: schedule.id, job: schedule.name, cron: schedule.cron, tz: schedule.timezone }, 'job scheduled');
  return schedule;
};
