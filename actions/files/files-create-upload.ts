import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { createUploadInput, parseInput } from '../../src/plugins/files/lib/input.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { keys } from '../../src/plugins/files/lib/storage/driver.js';
import { checkNewUpload, insertPending, quotaScope } from '../../src/plugins/files/lib/uploads.js';
import type { FilesUpload } from '../../src/generated/actions.js';

/**
 * Records a pending file (reserving its size against the quota) and signs where the bytes go: a POST
 * policy that makes the storage enforce the exact size where the driver has one, else a PUT URL.
 */
export const filesCreateUpload: ActionHandler<unknown, FilesUpload, FilesConfig> = async (input, ctx) => {
  const args = parseInput(createUploadInput, input);
  const checked = await checkNewUpload(ctx, args);
  const storage = ctx.service(filesStorage);
  // The local driver enforces the size on PUT itself; S3 does with a POST policy, where the store has it.
  const method = storage.kind === 'local' ? 'PUT' : (args.method ?? ctx.config.FILES_S3_UPLOAD_METHOD);
  const { file, target } = await quotaScope(ctx, checked.bucket, async (db) => {
    const file = await insertPending(db, checked, { metadata: args.metadata, expiresInSeconds: ctx.config.FILES_UPLOAD_EXPIRY_SECONDS });
    const target = await storage.createUpload({
      key: keys.staging(file.object_key),
      contentType: checked.mimeType,
      size: checked.size,
      expiresInSeconds: checked.bucket.url_expires_in,
      method,
    });
    return { file, target };
  });
  return {
    id: file.id,
    bucket: file.bucket_id,
    name: file.name,
    mimeType: checked.mimeType,
    size: checked.size,
    status: file.status,
    method: target.method,
    url: target.url,
    headers: target.headers,
    fields: target.fields,
    sizeEnforced: target.sizeEnforced,
    expiresAt: target.expiresAt.toISOString(),
  };
};
