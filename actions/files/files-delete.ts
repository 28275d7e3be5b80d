import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { actorOf, idInput, parseInput } from '../../src/plugins/files/lib/input.js';
import type { FilesDeleteResult } from '../../src/generated/actions.js';

/**
 * Soft-deletes the caller's file: it disappears from every select and URL at once, and the purge trigger
 * removes its objects. Deleting it again answers the same; another user's file is not found.
 */
export const filesDelete: ActionHandler<unknown, FilesDeleteResult, FilesConfig> = async (input, ctx) => {
  const { id } = parseInput(idInput, input);
  const actor = actorOf(ctx.session);
  const r = await ctx.db.query<{ deleted_now: boolean }>(
    `with target as (
       select id, deleted_at from files.file where id = $1 and ($2::text is null or owner_id = $2) for update
     ), upd as (
       update files.file f set deleted_at = now(), expires_at = null
         from target t where f.id = t.id and t.deleted_at is null
       returning f.id
     )
     select exists (select 1 from upd) as deleted_now from target`,
    [id, actor.admin ? null : actor.userId],
  );
  if (r.rows.length === 0) throw filesError('files/not-found');
  return { id, deleted: true };
};
