import type { ActionHandler } from '../../src/core/plugin.js';
import type { JobsConfig } from '../../src/plugins/jobs/config.js';
import { enqueueInput, enqueueOptions, parseInput } from '../../src/plugins/jobs/lib/input.js';
import type { JobsJob } from '../../src/plugins/jobs/lib/output.js';
import { jobsService } from '../../src/plugins/jobs/lib/runtime.js';

/** Enqueues a registered job; unknown names and data failing the job's schema are 4xx. */
export const jobsEnqueue: ActionHandler<unknown, JobsJob, JobsConfig> = async (input, ctx) => {
  const { name, data, options } = parseInput(enqueueInput, input);
  const jobs = ctx.service(jobsService);
  return jobs.enqueue(name, data ?? {}, enqueueOptions(options));
};
