import type { ActionHandler } from '../../src/core/plugin.js';
import { parseInput, unregisterInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import type { NotificationsRemoveResult } from '../../src/generated/actions.js';

export const notificationsUnregisterPushSubscription: ActionHandler<unknown, NotificationsRemoveResult> = async (input, ctx) => {
  const a = parseInput(unregisterInput, input);
  const user = userOf(ctx.session);
  const r = await ctx.db.query(
    `delete from notifications.push_subscription
      where user_id = $1 and (id = $2::uuid or endpoint = $3 or token = $4 or token = lower($4))`,
    [user, a.id ?? null, a.endpoint ?? null, a.token ?? null],
  );
  return { removed: r.rowCount ?? 0 };
};
