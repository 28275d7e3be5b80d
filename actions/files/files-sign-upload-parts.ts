import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { actorOf, parseInput, signPartsInput } from '../../src/plugins/files/lib/input.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { keys } from '../../src/plugins/files/lib/storage/driver.js';
import { getBucket, ownFile } from '../../src/plugins/files/lib/store.js';
import type { FilesUploadPart } from '../../src/generated/actions.js';

/** Signs part URLs of the caller's pending multipart upload; a part can be signed (and sent) again. */
export const filesSignUploadParts: ActionHandler<unknown, FilesUploadPart[], FilesConfig> = async (input, ctx) => {
  const { id, partNumbers } = parseInput(signPartsInput, input);
  const file = await ownFile(ctx.db, id, actorOf(ctx.session));
  if (!file) throw filesError('files/not-found');
  if (file.status !== 'pending') throw filesError('files/not-pending');
  if (!file.upload_id || !file.part_size) throw filesError('files/not-multipart');
  const size = Number(file.size);
  const partSize = Number(file.part_size);
  const partCount = Math.max(1, Math.ceil(size / partSize));
  const beyond = partNumbers.filter((n) => n > partCount);
  if (beyond.length) throw filesError('files/invalid-input', `this upload has ${partCount} parts; no part ${beyond.join(', ')}`);
  const bucket = (await getBucket(ctx.db, file.bucket_id))!;
  const storage = ctx.service(filesStorage);
  const expires = bucket.url_expires_in;
  const expiresAt = new Date(Date.now() + expires * 1000).toISOString();
  return Promise.all(
    [...new Set(partNumbers)].map(async (n) => {
      const bytes = n < partCount ? partSize : size - partSize * (partCount - 1);
      return { partNumber: n, method: 'PUT' as const, url: await storage.signPart(keys.staging(file.object_key), file.upload_id!, n, bytes, expires), size: bytes, expiresAt };
    }),
  );
};
