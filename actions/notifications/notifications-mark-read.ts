import type { ActionHandler } from '../../src/core/plugin.js';
import { idsInput, parseInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { unreadCount } from '../../src/plugins/notifications/lib/feed.js';
import type { NotificationsMarkResult } from '../../src/generated/actions.js';

/** Only the caller's rows change: another user's ids match nothing, and say nothing about whether they exist. */
export const notificationsMarkRead: ActionHandler<unknown, NotificationsMarkResult> = async (input, ctx) => {
  const { ids } = parseInput(idsInput, input);
  const user = userOf(ctx.session);
  const r = await ctx.db.query(
    `update notifications.notification set read_at = now(), seen_at = coalesce(seen_at, now())
      where id = any($1::uuid[]) and user_id = $2 and read_at is null`,
    [ids, user],
  );
  return { updated: r.rowCount ?? 0, unreadCount: await unreadCount(ctx.db, user) };
};
