import type { ActionHandler } from '../../src/core/plugin.js';
import { optionalIdsInput, parseInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { unreadCount } from '../../src/plugins/notifications/lib/feed.js';
import type { NotificationsMarkResult } from '../../src/generated/actions.js';

/** Seen: the badge was shown (the centre opened); read stays a separate, explicit step. */
export const notificationsMarkSeen: ActionHandler<unknown, NotificationsMarkResult> = async (input, ctx) => {
  const { ids } = parseInput(optionalIdsInput, input);
  const user = userOf(ctx.session);
  const r = await ctx.db.query(
    `update notifications.notification set seen_at = now()
      where user_id = $1 and seen_at is null and ($2::uuid[] is null or id = any($2::uuid[]))`,
    [user, ids ?? null],
  );
  return { updated: r.rowCount ?? 0, unreadCount: await unreadCount(ctx.db, user) };
};
