/** Jobs (admin and service roles): queue statistics and single jobs, for an admin page (src/plugins/jobs/README.md). */
import type { NselfClient } from './core.js';
import { JobsCancelDocument, JobsGetDocument, JobsListDocument, JobsRetryDocument, JobsStatsDocument, type JobsState, type JobsStatsQuery } from './generated/operations.js';

export type QueueStats = JobsStatsQuery['jobsStats'][number];

export function createJobs(client: NselfClient) {
  return {
    stats: async (queue?: string): Promise<QueueStats[]> => (await client.request(JobsStatsDocument, { queue: queue ?? null })).jobsStats,
    list: async (queue: string, state: JobsState, page: { limit?: number; cursor?: string | null } = {}) =>
      (await client.request(JobsListDocument, { queue, state, limit: page.limit ?? null, cursor: page.cursor ?? null })).jobsList,
    get: async (queue: string, id: string) => (await client.request(JobsGetDocument, { queue, id })).jobsGet,
    retry: async (queue: string, id: string) => (await client.request(JobsRetryDocument, { queue, id })).jobsRetry,
    cancel: async (queue: string, id: string, reason?: string) => (await client.request(JobsCancelDocument, { queue, id, reason: reason ?? null })).jobsCancel,
  };
}

export type Jobs = ReturnType<typeof createJobs>;
