/**
 * Digests: the email deliveries a user's preference sent to a digest wait in status `digest`; at the user's
 * digest hour (in their zone) the hourly cron gathers the ones still unread into one email per user and
 * period. Each notification is claimed for a digest in the same transaction that records the digest (unique
 * per user, period and period key), so it lands in at most one digest, and a redelivered cron sends nothing
 * twice.
 */
import { ActionError } from '../../../core/errors.js';
import type { Db } from '../../../core/plugin.js';
import type { Logger } from 'pino';
import type { EmailApi } from '../../email/index.js';
import { digestDue, type DigestPeriod } from './time.js';

interface Candidate {
  user_id: string;
  digest: DigestPeriod;
  time_zone: string | null;
  digest_hour: number | null;
  digest_weekday: number | null;
  email: string | null;
  locale: string | null;
}

export interface DigestRun {
  digests: number;
  notifications: number;
  skipped: number;
}

export async function runDigests(deps: { db: Db; email: EmailApi; log: Logger; defaultTimeZone: string }, at: Date): Promise<DigestRun> {
  const { db } = deps;
  const out: DigestRun = { digests: 0, notifications: 0, skipped: 0 };
  const r = await db.query<Candidate>(
    `select w.user_id, w.digest, s.time_zone, s.digest_hour, s.digest_weekday, s.email, s.locale
       from (select distinct user_id, digest from notifications.delivery where channel = 'email' and status = 'digest') w
       left join notifications.user_setting s on s.user_id = w.user_id`,
  );
  for (const c of r.rows) {
    const key = digestDue(at, c.digest, c.time_zone ?? deps.defaultTimeZone, c.digest_hour ?? 8, c.digest_weekday ?? 1);
    if (!key) continue;
    await db.tx(async (tx) => {
      const d = await tx.query<{ id: string }>(
        `insert into notifications.digest (user_id, period, period_key) values ($1, $2, $3) on conflict do nothing returning id`,
        [c.user_id, c.digest, key],
      );
      const digestId = d.rows[0]?.id;
      if (!digestId) return;
      const waiting = `d.user_id = $1 and d.channel = 'email' and d.status = 'digest' and d.digest = $2`;
      const stale = await tx.query(
        `update notifications.delivery d set status = 'skipped', reason = 'read before the digest', updated_at = now()
           from notifications.notification n where n.id = d.notification_id and ${waiting}
            and (n.read_at is not null or n.archived_at is not null or n.digest_id is not null)`,
        [c.user_id, c.digest],
      );
      out.skipped += stale.rowCount ?? 0;
      const items = await tx.query<{ id: string; delivery_id: string; title: string; body: string | null; action_url: string | null; category: string; created_at: Date }>(
        `with claimed as (
           update notifications.notification n set digest_id = $3
             from notifications.delivery d where d.notification_id = n.id and ${waiting} and n.digest_id is null
           returning n.id, d.id as delivery_id, n.title, n.body, n.action_url, n.category, n.created_at)
         select * from claimed order by created_at`,
        [c.user_id, c.digest, digestId],
      );
      if (!items.rows.length) return;
      const deliveries = items.rows.map((i) => i.delivery_id);
      if (!c.email) {
        await tx.query(`update notifications.delivery set status = 'skipped', reason = 'no email address', updated_at = now() where id = any($1::uuid[])`, [deliveries]);
        await tx.query('update notifications.digest set notification_count = $2 where id = $1', [digestId, items.rows.length]);
        out.skipped += deliveries.length;
        return;
      }
      let messageId: string | null = null;
      try {
        const m = await deps.email.send({
          to: [c.email],
          template: 'notifications.digest',
          locale: c.locale,
          data: {
            count: items.rows.length,
            plural: items.rows.length !== 1,
            period: c.digest,
            items: items.rows.map((i) => ({ title: i.title, body: i.body, actionUrl: i.action_url, category: i.category, createdAt: i.created_at.toISOString() })),
          },
          // Per user and period: a repeat after a crash between the mail and the commit returns the first mail.
          idempotencyKey: `notifications-digest-${c.user_id}-${c.digest}-${key}`.slice(0, 255),
          category: 'notifications.digest',
          transactional: false,
          metadata: { digestId },
        });
        messageId = m.id;
      } catch (e) {
        if (!(e instanceof ActionError && e.code === 'email/idempotency-conflict')) throw e;
        deps.log.warn({ userId: c.user_id, period: c.digest, key }, 'digest mail of this period was already sent with other content');
      }
      await tx.query(
        `update notifications.delivery set status = 'sent', provider_ref = $2, sent_at = now(), updated_at = now() where id = any($1::uuid[])`,
        [deliveries, messageId ?? `digest:${digestId}`],
      );
      await tx.query('update notifications.digest set notification_count = $2, email_message_id = $3 where id = $1', [digestId, items.rows.length, messageId]);
      out.digests++;
      out.notifications += items.rows.length;
    });
  }
  return out;
}
