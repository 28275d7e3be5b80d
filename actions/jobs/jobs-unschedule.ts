import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { parseInput, unscheduleInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsUnscheduleResult } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Removes a schedule by id (404 when there is none). */
export const jobsUnschedule: ActionHandler<unknown, JobsUnscheduleResult, JobsConfig> = async (input, ctx) => {
  const { id } = parseInput(unscheduleInput, input);
  const result = await ctx.service(jobsService).unschedule(id);
  ctx.log.info({ schedule: id }, 'job unscheduled');
  return result;
};
