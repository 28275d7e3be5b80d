import type { EventHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { digestJob, MEDIA_JOBS, scanJob } from '../../src/plugins/files/lib/jobs.js';
import { advance, mediaStep } from '../../src/plugins/files/lib/pipeline.js';
import type { FileRow } from '../../src/plugins/files/lib/store.js';

/**
 * Starts the job for the status a file just reached (see lib/pipeline.ts). The job id is the event id, so a
 * redelivered event finds its job already queued (or done) and enqueues nothing.
 */
export const filesFileStatusChanged: EventHandler<FileRow, FilesConfig> = async (event, ctx) => {
  const row = event.event.data.new;
  const old = event.event.data.old;
  if (!row) return { skipped: 'the event carries no new row' };
  if (old && old.status === row.status) return { skipped: 'the status did not change' };
  if (row.deleted_at) return { skipped: 'the file is deleted' };

  if (row.status === 'uploaded') {
    const job = ctx.features.has('virus-scan') ? scanJob : digestJob;
    await job.enqueue(ctx, { fileId: row.id }, { jobId: event.id });
    return;
  }
  if (row.status === 'processing') {
    const kind = mediaStep(row.mime_type, ctx.features);
    if (!kind) {
      // The feature went off between the scan and now: nothing left to make.
      await advance(ctx.db, row.id, 'processing', 'ready');
      return;
    }
    await MEDIA_JOBS[kind].enqueue(ctx, { fileId: row.id }, { jobId: event.id });
    return;
  }
  return { skipped: `nothing to start when a file becomes ${row.status}` };
};
