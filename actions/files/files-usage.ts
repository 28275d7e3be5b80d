import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { ownerOf, parseInput, usageInput } from '../../src/plugins/files/lib/input.js';
import { getBucket, listBuckets, usedBytes } from '../../src/plugins/files/lib/store.js';
import type { FilesUsage } from '../../src/generated/actions.js';

/** The caller's bytes and file count per bucket, against the bucket's per-user quota. */
export const filesUsage: ActionHandler<unknown, FilesUsage[], FilesConfig> = async (input, ctx) => {
  const { bucket } = parseInput(usageInput, input);
  const owner = ownerOf(ctx.session);
  let buckets;
  if (bucket) {
    const b = await getBucket(ctx.db, bucket);
    if (!b) throw filesError('files/unknown-bucket', `no bucket "${bucket}"`);
    buckets = [b];
  } else {
    buckets = await listBuckets(ctx.db);
  }
  return Promise.all(
    buckets.map(async (b) => {
      const used = await usedBytes(ctx.db, owner, b.id);
      const quota = b.user_quota === null ? null : Number(b.user_quota);
      return {
        bucket: b.id,
        usedBytes: used.bytes,
        fileCount: used.files,
        quotaBytes: quota,
        remainingBytes: quota === null ? null : Math.max(0, quota - used.bytes),
      };
    }),
  );
};
