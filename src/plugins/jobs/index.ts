/**
 * The jobs plugin's public API for other plugins and the app's job files:
 *
 *   import { defineJob } from '<path>/plugins/jobs/index.js';
 *   export const sendDigest = defineJob({ name: 'mail.digest', queue: 'low-priority', data: z.object({...}), handler });
 *   await sendDigest.enqueue(ctx, { userId });
 */
export { defineJob, isJobDefinition } from './lib/define-job.js';
export type { JobDefinition, JobSpec, JobContext, JobInfo, JobBackoff, JobRateLimit, JobSchedule } from './lib/define-job.js';
export type { EnqueueOptions, EnqueuedJob, EnqueueTarget } from './lib/enqueue.js';
export { DEFAULT_QUEUES } from './lib/names.js';
export { JobRegistry, JobRegistryError } from './lib/registry.js';
export { JobsService } from './lib/service.js';
export { createJobsService, jobsService } from './lib/runtime.js';
export { JobTimeoutError } from './lib/processor.js';
export { JobCancelledError } from './lib/cancel-bus.js';
export { UnrecoverableError } from 'bullmq';
