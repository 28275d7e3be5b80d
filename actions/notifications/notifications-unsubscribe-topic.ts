import type { ActionHandler } from '../../src/core/plugin.js';
import { notificationsError } from '../../src/plugins/notifications/lib/errors.js';
import { parseInput, topicInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import type { NotificationsTopicResult } from '../../src/generated/actions.js';

export const notificationsUnsubscribeTopic: ActionHandler<unknown, NotificationsTopicResult> = async (input, ctx) => {
  const { topic, userIds } = parseInput(topicInput, input);
  const backend = ctx.session.role === 'admin' || ctx.session.role === 'service';
  if (!backend && userIds != null) throw notificationsError('notifications/invalid-input', 'users unsubscribe only themselves: leave out userIds');
  const users = backend && userIds ? userIds : [userOf(ctx.session)];
  const r = await ctx.db.query('delete from notifications.topic_subscription where topic = $1 and user_id = any($2::text[])', [topic, users]);
  return { topic, changed: r.rowCount ?? 0 };
};
