import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { jobRefInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsJob } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Moves a delayed job to the front of its queue now. */
export const jobsPromote: ActionHandler<unknown, JobsJob, JobsConfig> = async (input, ctx) => {
  const { queue, id } = parseInput(jobRefInput, input);
  return ctx.service(jobsService).promote(queue, id);
};
