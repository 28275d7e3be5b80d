import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { actorOf, idInput, parseInput } from '../../src/plugins/files/lib/input.js';
import { ownFile } from '../../src/plugins/files/lib/store.js';
import type { FilesAbortResult } from '../../src/generated/actions.js';

/** Drops a pending upload; the purge trigger aborts its multipart upload and removes any bytes sent. */
export const filesAbortUpload: ActionHandler<unknown, FilesAbortResult, FilesConfig> = async (input, ctx) => {
  const { id } = parseInput(idInput, input);
  const actor = actorOf(ctx.session);
  return ctx.db.tx(async (tx) => {
    const file = await ownFile(tx, id, actor, true);
    if (!file) throw filesError('files/not-found');
    if (file.status !== 'pending') throw filesError('files/not-pending', 'only a pending upload can be aborted; delete the file instead');
    await tx.query(`update files.file set deleted_at = now(), failure_reason = 'upload aborted', expires_at = null where id = $1`, [id]);
    return { id, aborted: true };
  });
};
