import type { ActionHandler } from '../../src/core/plugin.js';
import { archiveInput, parseInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { unreadCount } from '../../src/plugins/notifications/lib/feed.js';
import type { NotificationsMarkResult } from '../../src/generated/actions.js';

export const notificationsArchive: ActionHandler<unknown, NotificationsMarkResult> = async (input, ctx) => {
  const { ids, archived } = parseInput(archiveInput, input);
  const user = userOf(ctx.session);
  const restore = archived === false;
  const r = await ctx.db.query(
    `update notifications.notification set archived_at = case when $3 then null else now() end
      where id = any($1::uuid[]) and user_id = $2 and (case when $3 then archived_at is not null else archived_at is null end)`,
    [ids, user, restore],
  );
  return { updated: r.rowCount ?? 0, unreadCount: await unreadCount(ctx.db, user) };
};
