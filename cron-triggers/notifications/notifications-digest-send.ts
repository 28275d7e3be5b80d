import type { CronHandler } from '../../src/core/plugin.js';
import { parseHasuraTimestamp } from '../../src/core/hasura-time.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { emailService } from '../../src/plugins/email/index.js';
import { runDigests } from '../../src/plugins/notifications/lib/digest.js';

/**
 * Hourly: the digests due in this hour, each in its user's zone. The scheduled time (not the clock) decides
 * which hour it is, so a retried or late delivery of the cron event computes the same periods.
 */
export const notificationsDigestSend: CronHandler<unknown, NotificationsConfig> = async (cron, ctx) => {
  const email = ctx.optionalService(emailService);
  if (!email) return { skipped: 'the email plugin is not running' };
  const at = parseHasuraTimestamp(cron.scheduled_time) ?? new Date();
  const r = await runDigests({ db: ctx.db, email, log: ctx.log, defaultTimeZone: ctx.config.NOTIFICATIONS_DEFAULT_TIME_ZONE }, at);
  if (r.digests || r.skipped) ctx.log.info(r, 'digests sent');
};
