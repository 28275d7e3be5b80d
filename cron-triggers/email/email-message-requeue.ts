import type { CronHandler } from '../../src/core/plugin.js';
import type { EmailConfig } from '../../src/plugins/email/config.js';
import { enqueueSend } from '../../src/plugins/email/lib/messages.js';

/**
 * Queues again messages still `queued` (or stuck `sending`) after ten minutes: the enqueue after the insert
 * failed, or the queue lost the job. The job id is the message id, so a message whose job still exists gets
 * no second one, and the job itself skips a message that is already sent.
 */
export const emailMessageRequeue: CronHandler<unknown, EmailConfig> = async (_cron, ctx) => {
  const r = await ctx.db.query<{ id: string }>(
    `select id from email.message
      where status in ('queued', 'sending') and updated_at < now() - interval '10 minutes'
      order by updated_at limit 1000`,
  );
  for (const { id } of r.rows) await enqueueSend({ jobs: ctx, config: ctx.config }, id);
  if (r.rows.length) ctx.log.info({ requeued: r.rows.length }, 'email messages queued again');
};
