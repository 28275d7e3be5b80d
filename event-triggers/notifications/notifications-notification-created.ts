import type { EventHandler } from '../../src/core/plugin.js';
import { hasuraTimestampMs } from '../../src/core/hasura-time.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { availableChannels } from '../../src/plugins/notifications/lib/feed.js';
import { enqueueDeliveries } from '../../src/plugins/notifications/lib/jobs.js';
import { planNotification, type NotificationRow } from '../../src/plugins/notifications/lib/plan.js';

/**
 * Plans push, email and SMS for a new notification and enqueues their jobs. Delivered at least once by
 * Hasura: deliveries are unique per notification and channel and job ids come from delivery ids, so a second
 * delivery of the event plans and sends nothing more (and enqueues what a crash may have left unqueued).
 */
export const notificationsNotificationCreated: EventHandler<NotificationRow & { group_window_seconds?: number }, NotificationsConfig> = async (event, ctx) => {
  const row = event.event.data.new;
  if (!row?.id || !row.user_id) return { skipped: 'event carries no notification row' };
  const available = availableChannels(ctx.features);
  if (!available.size) return { skipped: 'no channel besides in-app is enabled' };
  const due = await planNotification(ctx.db, row, available, ctx.config.NOTIFICATIONS_DEFAULT_TIME_ZONE);
  if (!due.length) return;
  const grouped = due.some((d) => d.status === 'grouped');
  let windowSeconds = 0;
  if (grouped) {
    const c = await ctx.db.query<{ w: number }>('select group_window_seconds as w from notifications.category where key = $1', [row.category]);
    windowSeconds = c.rows[0]?.w ?? 300;
  }
  const createdAt = new Date(Number.isFinite(hasuraTimestampMs(row.created_at)) ? hasuraTimestampMs(row.created_at) : Date.now());
  await enqueueDeliveries({ queue: ctx.queue, config: ctx.config, optionalService: (token) => ctx.optionalService(token) }, due, grouped ? { userId: row.user_id, groupKey: row.group_key, windowSeconds, createdAt } : null);
};
