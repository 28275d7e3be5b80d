import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { cancelInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsCancelResult } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Removes a job that has not started, or aborts a running one wherever its worker runs. */
export const jobsCancel: ActionHandler<unknown, JobsCancelResult, JobsConfig> = async (input, ctx) => {
  const { queue, id, reason } = parseInput(cancelInput, input);
  const result = await ctx.service(jobsService).cancel(queue, id, reason ?? `cancelled by ${ctx.session.role}`);
  ctx.log.info({ queue, jobId: id, outcome: result.outcome, role: ctx.session.role }, 'job cancel requested');
  return result;
};
