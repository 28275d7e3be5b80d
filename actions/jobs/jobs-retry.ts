import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { jobRefInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsJob } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Retries a failed or completed job, or redrives one from the dead-letter history. */
export const jobsRetry: ActionHandler<unknown, JobsJob, JobsConfig> = async (input, ctx) => {
  const { queue, id } = parseInput(jobRefInput, input);
  const result = await ctx.service(jobsService).retry(queue, id);
  ctx.log.info({ queue, jobId: id, role: ctx.session.role }, 'job retried');
  return result;
};
