import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { enqueueBulkInput, enqueueOptions, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsJob } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Enqueues up to 1000 jobs in one call: all are checked first, one bad item enqueues none. */
export const jobsEnqueueBulk: ActionHandler<unknown, JobsJob[], JobsConfig> = async (input, ctx) => {
  const { jobs } = parseInput(enqueueBulkInput, input);
  const service = ctx.service(jobsService);
  return service.enqueueMany(jobs.map((j) => ({ name: j.name, data: j.data ?? {}, opts: enqueueOptions(j.options) })));
};
