import type { CronHandler } from '../../src/core/plugin.js';
import type { EmailConfig } from '../../src/plugins/email/config.js';

/** Deletes messages (and their events) older than EMAIL_MESSAGE_RETENTION_DAYS. Deleting by age is idempotent. */
export const emailPruneMessages: CronHandler<unknown, EmailConfig> = async (_cron, ctx) => {
  const days = ctx.config.EMAIL_MESSAGE_RETENTION_DAYS;
  if (days === 0) return { skipped: 'EMAIL_MESSAGE_RETENTION_DAYS is 0: messages are kept forever' };
  let total = 0;
  for (;;) {
    const r = await ctx.db.query(
      `delete from email.message where id in (
         select id from email.message where created_at < now() - make_interval(days => $1) limit 5000)`,
      [days],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < 5000) break;
  }
  ctx.log.info({ deleted: total }, 'old email messages pruned');
};
