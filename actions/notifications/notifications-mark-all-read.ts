import type { ActionHandler } from '../../src/core/plugin.js';
import { parseHasuraTimestamp } from '../../src/core/hasura-time.js';
import { markAllInput, parseInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { unreadCount } from '../../src/plugins/notifications/lib/feed.js';
import type { NotificationsMarkResult } from '../../src/generated/actions.js';

export const notificationsMarkAllRead: ActionHandler<unknown, NotificationsMarkResult> = async (input, ctx) => {
  const { category, before } = parseInput(markAllInput, input);
  const user = userOf(ctx.session);
  const r = await ctx.db.query(
    `update notifications.notification set read_at = now(), seen_at = coalesce(seen_at, now())
      where user_id = $1 and read_at is null and archived_at is null
        and ($2::text is null or category = $2) and ($3::timestamptz is null or created_at < $3)`,
    [user, category ?? null, before ? parseHasuraTimestamp(before)! : null],
  );
  return { updated: r.rowCount ?? 0, unreadCount: await unreadCount(ctx.db, user) };
};
