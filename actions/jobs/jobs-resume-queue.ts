import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { parseInput, queueInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsQueueStats } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Resumes a paused queue. */
export const jobsResumeQueue: ActionHandler<unknown, JobsQueueStats, JobsConfig> = async (input, ctx) => {
  const { queue } = parseInput(queueInput, input);
  const stats = await ctx.service(jobsService).resume(queue);
  ctx.log.info({ queue, role: ctx.session.role }, 'queue resumed');
  return stats;
};
