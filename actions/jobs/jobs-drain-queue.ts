import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { drainInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsDrainResult } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Removes a queue's waiting (and optionally delayed) jobs. Admin only: it destroys work. */
export const jobsDrainQueue: ActionHandler<unknown, JobsDrainResult, JobsConfig> = async (input, ctx) => {
  const { queue, delayed } = parseInput(drainInput, input);
  const result = await ctx.service(jobsService).drain(queue, delayed ?? false);
  ctx.log.warn({ queue, delayed: !!delayed, removed: result.removed, role: ctx.session.role }, 'queue drained');
  return result;
};
