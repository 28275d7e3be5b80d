import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { listInput, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsPage, JobsStateName } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** One page of a queue's jobs in one state. */
export const jobsList: ActionHandler<unknown, JobsPage, JobsConfig> = async (input, ctx) => {
  const { queue, state, cursor, limit } = parseInput(listInput, input);
  return ctx.service(jobsService).list(queue, state as JobsStateName, cursor, limit ?? 20);
};
