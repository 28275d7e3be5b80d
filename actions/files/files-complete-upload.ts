import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { actorOf, completeInput, parseInput } from '../../src/plugins/files/lib/input.js';
import { fileOutput, type FilesFileOutput } from '../../src/plugins/files/lib/output.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { complete } from '../../src/plugins/files/lib/uploads.js';

/**
 * Checks what was stored (size, real type, bucket rules, quota) and hands the file to processing by moving
 * it to `uploaded`. Idempotent: a completed file is answered as it is now.
 */
export const filesCompleteUpload: ActionHandler<unknown, FilesFileOutput, FilesConfig> = async (input, ctx) => {
  const { id, parts } = parseInput(completeInput, input);
  const storage = ctx.service(filesStorage);
  const done = await complete(ctx, storage, actorOf(ctx.session), id, parts);
  if ('rejected' in done) throw filesError(done.rejected.code, `upload rejected and deleted: ${done.rejected.message}`);
  if (done.file.status === 'failed') throw filesError('files/upload-failed', `this upload was rejected: ${done.file.failure_reason ?? 'unknown reason'}`);
  return fileOutput(done.file, done.bucket, storage, ctx.config, ctx.features);
};
