import type { CronHandler } from '../../src/core/plugin.js';
import { RetryableError } from '../../src/core/errors.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { keys } from '../../src/plugins/files/lib/storage/driver.js';

const BATCH = 200;

/**
 * Hourly: multipart uploads left open past their expiry are aborted in the storage (so their parts stop
 * costing space) and their files dropped. Abort first, then the row: a crash between the two leaves a row
 * the next run aborts again, which the storage accepts.
 */
export const filesMultipartAbortAbandoned: CronHandler<unknown, FilesConfig> = async (_cron, ctx) => {
  const storage = ctx.service(filesStorage);
  let total = 0;
  for (;;) {
    const r = await ctx.db.query<{ id: string; object_key: string; upload_id: string }>(
      `select id, object_key, upload_id from files.file
        where status = 'pending' and deleted_at is null and upload_id is not null and expires_at < now()
        order by expires_at limit ${BATCH}`,
    );
    for (const f of r.rows) {
      try {
        await storage.abortMultipart(keys.staging(f.object_key), f.upload_id);
      } catch (e) {
        throw new RetryableError(`aborting multipart upload of file ${f.id} failed: ${(e as Error).message}`, { retryAfterSeconds: 300, cause: e });
      }
      await ctx.db.query(
        `update files.file set deleted_at = now(), failure_reason = 'multipart upload abandoned'
          where id = $1 and status = 'pending' and deleted_at is null`,
        [f.id],
      );
    }
    total += r.rows.length;
    if (r.rows.length < BATCH) break;
  }
  if (total) ctx.log.info({ aborted: total }, 'abandoned multipart uploads aborted');
};
