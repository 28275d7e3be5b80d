import { RetryableError } from '../../src/core/errors.js';
import type { EventHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { keys } from '../../src/plugins/files/lib/storage/driver.js';
import type { FileRow } from '../../src/plugins/files/lib/store.js';

/**
 * Removes a file's objects — staged upload, original, quarantined copy, every variant, an open multipart upload — when it
 * is deleted (soft or for real) or rejected (`failed`). Removing is idempotent, so a redelivery is harmless;
 * a storage failure answers 503 and Hasura retries.
 */
export const filesFilePurge: EventHandler<FileRow, FilesConfig> = async (event, ctx) => {
  const { op, data } = event.event;
  const row = op === 'DELETE' ? data.old : data.new;
  if (!row) return { skipped: 'the event carries no row' };
  const deleted = op === 'DELETE' || (!!row.deleted_at && !data.old?.deleted_at);
  const failed = row.status === 'failed' && data.old?.status !== 'failed';
  if (!deleted && !failed) return { skipped: 'neither deleted nor rejected' };

  const storage = ctx.service(filesStorage);
  try {
    const staged = keys.staging(row.object_key);
    if (row.upload_id) await storage.abortMultipart(staged, row.upload_id);
    await storage.remove([staged, row.object_key, keys.quarantine(row.bucket_id, row.id), ...(row.variants ?? []).map((v) => v.key)]);
    await storage.removePrefix(keys.variantPrefix(row.bucket_id, row.id));
  } catch (e) {
    throw new RetryableError(`removing the objects of file ${row.id} failed: ${(e as Error).message}`, { retryAfterSeconds: 30, cause: e });
  }
  if (op !== 'DELETE') {
    await ctx.db.query('update files.file set purged_at = now() where id = $1 and purged_at is null', [row.id]);
  }
};
