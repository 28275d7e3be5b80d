import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { parseInput, reprocessInput } from '../../src/plugins/files/lib/input.js';
import { FEATURE_OF } from '../../src/plugins/files/lib/pipeline.js';
import { getBucket } from '../../src/plugins/files/lib/store.js';
import type { FilesReprocessResult } from '../../src/generated/actions.js';

const BATCH = 1000;

/** MIME conditions of the media kinds whose feature is on (the files that have something to make). */
function kindFilter(features: ReadonlySet<string>): string {
  const on = (kind: keyof typeof FEATURE_OF) => features.has(FEATURE_OF[kind]);
  const parts = [
    on('image') ? `mime_type in ('image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff')` : null,
    on('video') ? `mime_type like 'video/%'` : null,
    on('document') ? `mime_type = 'application/pdf'` : null,
  ].filter(Boolean);
  return parts.length ? `(${parts.join(' or ')})` : 'false';
}

/**
 * Sends ready files back to `processing`; the status trigger starts their media job, which replaces the
 * variants (and removes those the bucket no longer asks for). Admin only: it costs CPU for every file.
 */
export const filesReprocess: ActionHandler<unknown, FilesReprocessResult, FilesConfig> = async (input, ctx) => {
  const args = parseInput(reprocessInput, input);
  if (!(await getBucket(ctx.db, args.bucket))) throw filesError('files/unknown-bucket', `no bucket "${args.bucket}"`);
  const r = await ctx.db.query<{ id: string }>(
    `update files.file set status = 'processing'
      where id in (select id from files.file
                    where bucket_id = $1 and status = 'ready' and deleted_at is null and ${kindFilter(ctx.features)}
                      and ($2::uuid[] is null or id = any($2)) and ($3::uuid is null or id > $3)
                    order by id limit ${BATCH})
      returning id`,
    [args.bucket, args.ids ?? null, args.after ?? null],
  );
  const ids = r.rows.map((x) => x.id).sort();
  return { queued: ids.length, lastId: ids.length === BATCH ? ids[ids.length - 1]! : null };
};
