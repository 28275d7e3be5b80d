import type { CronHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';

/** Deletes read or archived notifications (with their deliveries) past NOTIFICATIONS_RETENTION_DAYS; unread ones stay. */
export const notificationsPrune: CronHandler<unknown, NotificationsConfig> = async (_cron, ctx) => {
  const days = ctx.config.NOTIFICATIONS_RETENTION_DAYS;
  if (days === 0) return { skipped: 'NOTIFICATIONS_RETENTION_DAYS is 0: notifications are kept forever' };
  let total = 0;
  for (;;) {
    const r = await ctx.db.query(
      `delete from notifications.notification where id in (
         select id from notifications.notification
          where created_at < now() - make_interval(days => $1) and (read_at is not null or archived_at is not null) limit 5000)`,
      [days],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < 5000) break;
  }
  await ctx.db.query(`delete from notifications.send s where created_at < now() - make_interval(days => $1)
    and not exists (select 1 from notifications.notification n where n.send_id = s.id)`, [days]);
  await ctx.db.query(`delete from notifications.digest where created_at < now() - make_interval(days => $1)`, [days]);
  ctx.log.info({ deleted: total }, 'old notifications pruned');
};
