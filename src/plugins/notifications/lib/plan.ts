/**
 * Fan-out of one new notification: which channels it goes to, when, and how — from the category's defaults,
 * the user's preferences (all categories, then this one), the sender's channel list, quiet hours in the
 * user's zone (deferred, never dropped), digests (email collected by the digest cron) and grouping (pushes of
 * one group key within the category's window summed up in one). Critical notifications skip preferences,
 * quiet hours and digests.
 *
 * Planning writes one notifications.delivery row per channel (unique per notification and channel, so a
 * redelivered event plans nothing twice) and returns the rows that still need a job; the job id is derived
 * from the delivery id, so enqueueing again adds nothing.
 */
import type { Db } from '../../../core/plugin.js';
import type { Channel, OutChannel, Priority } from './input.js';
import { quietUntil, type DigestPeriod } from './time.js';

export interface NotificationRow {
  id: string;
  user_id: string;
  category: string;
  group_key: string | null;
  priority: Priority;
  channels: Channel[] | null;
  created_at: string;
  read_at?: string | null;
}

export interface PlanContext {
  now: Date;
  /** Channels whose feature is on (push, email, sms). */
  available: ReadonlySet<OutChannel>;
  category: { default_channels: string[]; critical: boolean; group_window_seconds: number };
  user: { time_zone: string; quiet_hours_start: string | null; quiet_hours_end: string | null; email: string | null; phone: string | null };
  /** The user's preferences for this category and for '*'. */
  preferences: ReadonlyArray<{ category: string; channel: string; enabled: boolean; digest: string }>;
  devices: number;
  /** A push of the same group key went out within the window (this notification joins the summary). */
  recentGroupPush: boolean;
}

export interface PlannedDelivery {
  channel: OutChannel;
  status: 'pending' | 'deferred' | 'skipped' | 'digest' | 'grouped';
  reason: string | null;
  digest: DigestPeriod | null;
  scheduledFor: Date | null;
}

export function planChannels(n: NotificationRow, c: PlanContext): PlannedDelivery[] {
  const critical = n.priority === 'critical' || c.category.critical;
  const out: PlannedDelivery[] = [];
  for (const channel of ['push', 'email', 'sms'] as const) {
    if (!c.available.has(channel)) continue;
    const requested = n.channels === null || n.channels.includes(channel);
    if (!requested) continue;
    const categoryDefault = c.category.default_channels.includes(channel);
    const own = c.preferences.find((p) => p.category === n.category && p.channel === channel);
    const all = c.preferences.find((p) => p.category === '*' && p.channel === channel);
    // The sender naming a channel counts as the default; critical sends go wherever they are asked to.
    const enabled = critical ? n.channels !== null || categoryDefault : (own?.enabled ?? all?.enabled ?? (n.channels !== null || categoryDefault));
    const skip = (reason: string): PlannedDelivery => ({ channel, status: 'skipped', reason, digest: null, scheduledFor: null });
    if (!enabled) {
      // Channels off by default are not recorded for every notification; only a user's own "off" is.
      if (own || all || n.channels !== null) out.push(skip('turned off in preferences'));
      continue;
    }
    if (channel === 'email' && !c.user.email) { out.push(skip('no email address')); continue; }
    if (channel === 'sms' && !c.user.phone) { out.push(skip('no phone number')); continue; }
    if (channel === 'push' && c.devices === 0) { out.push(skip('no push subscription')); continue; }
    const digest = (own?.digest ?? all?.digest ?? 'off') as DigestPeriod | 'off';
    if (channel === 'email' && !critical && digest !== 'off') {
      out.push({ channel, status: 'digest', reason: `in the ${digest} digest`, digest, scheduledFor: null });
      continue;
    }
    const quiet = !critical && c.user.quiet_hours_start && c.user.quiet_hours_end ? quietUntil(c.now, c.user.time_zone, c.user.quiet_hours_start, c.user.quiet_hours_end) : null;
    if (channel === 'push' && n.group_key && c.recentGroupPush && !critical) {
      out.push({ channel, status: 'grouped', reason: `grouped by ${n.group_key}`, digest: null, scheduledFor: quiet });
      continue;
    }
    if (quiet) out.push({ channel, status: 'deferred', reason: 'quiet hours', digest: null, scheduledFor: quiet });
    else out.push({ channel, status: 'pending', reason: null, digest: null, scheduledFor: null });
  }
  return out;
}

export interface DeliveryToRun {
  id: string;
  channel: OutChannel;
  status: 'pending' | 'deferred' | 'grouped';
  scheduled_for: Date | null;
}

interface ContextRow {
  default_channels: string[];
  critical: boolean;
  group_window_seconds: number;
  time_zone: string | null;
  quiet_hours_start: string | null;
  quiet_hours_end: string | null;
  email: string | null;
  phone: string | null;
  preferences: PlanContext['preferences'] | null;
  devices: number;
  recent_group_push: boolean;
}

/**
 * Plans `n` (idempotent) and returns its deliveries that wait for a job, including ones planned by an
 * earlier delivery of the same event whose jobs may not have been enqueued.
 */
export async function planNotification(db: Db, n: NotificationRow, available: ReadonlySet<OutChannel>, defaultTimeZone: string, now = new Date()): Promise<DeliveryToRun[]> {
  // Two statements and no transaction: the context read, then one insert-and-select. A concurrent delivery of
  // the same event inserts nothing (the unique key) and reads the same rows.
  {
    const tx = db;
    const r = await tx.query<ContextRow>(
      `select c.default_channels, c.critical, c.group_window_seconds,
              s.time_zone, s.quiet_hours_start::text, s.quiet_hours_end::text, s.email, s.phone,
              (select json_agg(json_build_object('category', p.category, 'channel', p.channel, 'enabled', p.enabled, 'digest', p.digest))
                 from notifications.preference p where p.user_id = $1 and p.category in ($2, '*')) as preferences,
              case when $5 then (select count(*)::int from notifications.push_subscription ps where ps.user_id = $1) else 0 end as devices,
              case when $3::text is not null and $5 then exists (
                select 1 from notifications.delivery d join notifications.notification o on o.id = d.notification_id
                 where o.user_id = $1 and o.group_key = $3 and o.id <> $4 and d.channel = 'push'
                   and d.status in ('pending', 'sending', 'sent', 'deferred')
                   and o.created_at > $6::timestamptz - make_interval(secs => c.group_window_seconds)
                   and o.created_at <= $6::timestamptz)
              else false end as recent_group_push
         from notifications.category c left join notifications.user_setting s on s.user_id = $1
        where c.key = $2`,
      [n.user_id, n.category, n.group_key, n.id, available.has('push'), n.created_at],
    );
    const row = r.rows[0];
    if (!row) return [];
    const planned = planChannels(n, {
      now,
      available,
      category: row,
      user: { time_zone: row.time_zone ?? defaultTimeZone, quiet_hours_start: row.quiet_hours_start, quiet_hours_end: row.quiet_hours_end, email: row.email, phone: row.phone },
      preferences: row.preferences ?? [],
      devices: row.devices,
      recentGroupPush: row.recent_group_push,
    });
    const due = await tx.query<DeliveryToRun>(
      `with planned as (
         insert into notifications.delivery (notification_id, user_id, channel, status, reason, digest, scheduled_for)
         select $1, $2, p.channel, p.status, p.reason, p.digest, p.scheduled_for
           from jsonb_to_recordset($3::jsonb) as p(channel text, status text, reason text, digest text, scheduled_for timestamptz)
         on conflict (notification_id, channel) do nothing
         returning id, channel, status, scheduled_for)
       select id, channel, status, scheduled_for from planned where status in ('pending', 'deferred', 'grouped')
       union all
       select id, channel, status, scheduled_for from notifications.delivery
        where notification_id = $1 and status in ('pending', 'deferred', 'grouped') and not exists (select 1 from planned)`,
      [n.id, n.user_id, JSON.stringify(planned.map((p) => ({ ...p, scheduled_for: p.scheduledFor })))],
    );
    return due.rows;
  }
}
