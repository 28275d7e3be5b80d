import type { CronHandler } from '../../src/core/plugin.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';

/**
 * Deletes messages past WEBHOOKS_RETENTION_DAYS whose deliveries are all finished (with their deliveries and
 * attempts), then attempts past WEBHOOKS_ATTEMPT_RETENTION_DAYS, and incoming messages past the message
 * retention. In batches, so a large backlog never holds one long lock. Idempotent: it deletes by age only.
 */
export const webhooksPrune: CronHandler<unknown, WebhooksConfig> = async (_cron, ctx) => {
  const days = ctx.config.WEBHOOKS_RETENTION_DAYS;
  const attemptDays = ctx.config.WEBHOOKS_ATTEMPT_RETENTION_DAYS;
  if (days === 0 && attemptDays === 0) return { skipped: 'WEBHOOKS_RETENTION_DAYS and WEBHOOKS_ATTEMPT_RETENTION_DAYS are 0: everything is kept' };
  const batches = async (sql: string, param: number) => {
    let total = 0;
    for (;;) {
      const r = await ctx.db.query(sql, [param]);
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < 5000) return total;
    }
  };
  const messages = days
    ? await batches(
        `delete from webhooks.message where id in (
           select m.id from webhooks.message m where m.created_at < now() - make_interval(days => $1)
              and not exists (select 1 from webhooks.delivery d where d.message_id = m.id and d.status in ('pending', 'sending')) limit 5000)`,
        days,
      )
    : 0;
  const attempts = attemptDays
    ? await batches(
        `delete from webhooks.attempt where id in (select id from webhooks.attempt where created_at < now() - make_interval(days => $1) limit 5000)`,
        attemptDays,
      )
    : 0;
  const incoming = days
    ? await batches(
        `delete from webhooks.incoming_message where id in (select id from webhooks.incoming_message where received_at < now() - make_interval(days => $1) limit 5000)`,
        days,
      )
    : 0;
  ctx.log.info({ messages, attempts, incoming }, 'old webhook messages and attempts pruned');
};
