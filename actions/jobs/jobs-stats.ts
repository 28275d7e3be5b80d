import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { parseInput, statsInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsQueueStats } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Job counts per state, for every queue or one. */
export const jobsStats: ActionHandler<unknown, JobsQueueStats[], JobsConfig> = async (input, ctx) => {
  const { queue } = parseInput(statsInput, input);
  return ctx.service(jobsService).stats(queue);
};
