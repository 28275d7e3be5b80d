import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { jobRefInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsJob } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** A job by queue and id; null when the queue no longer keeps it. */
export const jobsGet: ActionHandler<unknown, JobsJob | null, JobsConfig> = async (input, ctx) => {
  const { queue, id } = parseInput(jobRefInput, input);
  return ctx.service(jobsService).get(queue, id);
};
