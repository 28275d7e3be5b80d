import type { ActionHandler } from '../../src/core/plugin.js';
import { notificationsError } from '../../src/plugins/notifications/lib/errors.js';
import { parseInput, topicInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import type { NotificationsTopicResult } from '../../src/generated/actions.js';

const BACKENDS = new Set(['admin', 'service']);

/**
 * Users join public topics themselves; a backend subscribes anyone to any topic (a chat room's members), so a
 * private room's topic is never open to users who are not in it.
 */
export const notificationsSubscribeTopic: ActionHandler<unknown, NotificationsTopicResult> = async (input, ctx) => {
  const { topic, userIds } = parseInput(topicInput, input);
  const backend = BACKENDS.has(ctx.session.role);
  if (!backend && userIds != null) throw notificationsError('notifications/invalid-input', 'users subscribe only themselves: leave out userIds');
  const users = backend ? (userIds ?? (ctx.session.userId ? [ctx.session.userId] : [])) : [userOf(ctx.session)];
  if (!users.length) throw notificationsError('notifications/invalid-input', 'give userIds');
  if (backend) {
    await ctx.db.query('insert into notifications.topic (key) values ($1) on conflict do nothing', [topic]);
  } else {
    const t = await ctx.db.query<{ public: boolean }>('select public from notifications.topic where key = $1', [topic]);
    // A private topic answers like a missing one: its existence is not the user's business.
    if (!t.rows[0]) throw notificationsError('notifications/unknown-topic');
    if (!t.rows[0].public) throw notificationsError('notifications/unknown-topic');
  }
  const r = await ctx.db.query(
    `insert into notifications.topic_subscription (topic, user_id) select $1, u from unnest($2::text[]) u on conflict do nothing`,
    [topic, [...new Set(users)]],
  );
  return { topic, changed: r.rowCount ?? 0 };
};
