import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { createMultipartInput, parseInput } from '../../src/plugins/files/lib/input.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { keys } from '../../src/plugins/files/lib/storage/driver.js';
import { checkNewUpload, insertPending } from '../../src/plugins/files/lib/uploads.js';
import type { FilesMultipartUpload } from '../../src/generated/actions.js';

/** S3 allows at most 10,000 parts per upload. */
const MAX_PARTS = 10_000;

/** Starts a multipart upload; parts are signed by `filesSignUploadParts` and the upload finished by `filesCompleteUpload`. */
export const filesCreateMultipartUpload: ActionHandler<unknown, FilesMultipartUpload, FilesConfig> = async (input, ctx) => {
  const args = parseInput(createMultipartInput, input);
  const checked = await checkNewUpload(ctx, args);
  const partSize = args.partSize ?? ctx.config.FILES_MULTIPART_PART_SIZE;
  const partCount = Math.max(1, Math.ceil(checked.size / partSize));
  if (partCount > MAX_PARTS) {
    throw filesError('files/invalid-input', `${partCount} parts of ${partSize} bytes is more than ${MAX_PARTS}; use a larger partSize`);
  }
  const storage = ctx.service(filesStorage);
  const file = await ctx.db.tx(async (tx) => {
    const file = await insertPending(tx, checked, { metadata: args.metadata, expiresInSeconds: ctx.config.FILES_MULTIPART_EXPIRY_SECONDS, partSize });
    const uploadId = await storage.createMultipart(keys.staging(file.object_key), checked.mimeType);
    const r = await tx.query<{ expires_at: Date }>('update files.file set upload_id = $2 where id = $1 returning expires_at', [file.id, uploadId]);
    return { ...file, expires_at: r.rows[0]!.expires_at };
  });
  return {
    id: file.id,
    bucket: file.bucket_id,
    name: file.name,
    mimeType: checked.mimeType,
    size: checked.size,
    status: file.status,
    partSize,
    partCount,
    expiresAt: file.expires_at!.toISOString(),
  };
};
