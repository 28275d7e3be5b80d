/**
 * Meilisearch sync as jobs of the jobs plugin. `search.pending` stays the durable queue (one row per document,
 * the latest change wins); a job only says "drain this index". Its id is the index and a time window of
 * `SEARCH_SYNC_INTERVAL_MS`, and it starts when that window closes, so a burst of events in one window is one
 * job, and one batch job per index and window at most, whatever the number of events or replicas.
 *
 * A change committed while a drain runs is never stranded: the drain of window N starts after N has closed,
 * so an event enqueued then names window N+1 or later, whose job has not started yet.
 */
import { z } from 'zod';
import { defineJob, type EnqueueTarget } from '../../jobs/index.js';
import type { SearchConfig } from '../config.js';
import { searchService } from './service.js';

export const SYNC_QUEUE = 'search.sync';

const syncData = z.object({ index: z.string().regex(/^[a-z][a-z0-9_]{0,29}$/) });

export const syncIndexJob = defineJob({
  name: 'search.sync-index',
  queue: SYNC_QUEUE,
  data: syncData,
  // One drain per index at a time is what the ids give; a few indexes may drain side by side.
  concurrency: 4,
  attempts: 10,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 10 * 60_000,
  description: 'Sends the pending changes of one search index to Meilisearch in batches (upserts and deletes).',
  handler: async ({ index }, ctx) => {
    const meili = ctx.service(searchService).meili;
    // The engine was switched back to postgres after the job was enqueued: nothing to send to.
    if (!meili) return { sent: 0, skipped: 'engine is postgres' };
    let sent = 0;
    for (;;) {
      if (ctx.signal.aborted) break;
      const n = await meili.flushIndex(index);
      if (n === 0) break;
      sent += n;
      await ctx.progress({ sent });
    }
    return { sent };
  },
});

/** The job id of the drain that covers a change made at `now`. */
export function syncJobId(index: string, intervalMs: number, now = Date.now()): { jobId: string; delayMs: number } {
  const window = Math.floor(now / intervalMs);
  return { jobId: `search-sync-${index}-${window}`, delayMs: (window + 1) * intervalMs - now };
}

/** Enqueues (once per index and window) the drain that sends the changes just recorded in `search.pending`. */
export async function enqueueSync(target: EnqueueTarget, config: Pick<SearchConfig, 'SEARCH_SYNC_INTERVAL_MS'>, index: string): Promise<void> {
  await syncIndexJob.enqueue(target, { index }, syncJobId(index, config.SEARCH_SYNC_INTERVAL_MS));
}
