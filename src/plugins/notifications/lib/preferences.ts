/**
 * A user's preferences as the settings screen shows them: every category with, per channel, whether it is on,
 * its digest, whether the user may change it (not for critical categories) and where the value comes from —
 * the category's default, the user's setting for all categories (`*`), or for this one.
 */
import type { Db, Queryable } from '../../../core/plugin.js';
import type { NotificationsConfig } from '../config.js';
import { notificationsError } from './errors.js';
import { CHANNELS, type Channel } from './input.js';
import { isTimeZone } from './time.js';

export interface ChannelPreference {
  channel: Channel;
  enabled: boolean;
  digest: string;
  locked: boolean;
  source: 'default' | 'all' | 'category';
}

export interface Preferences {
  timeZone: string;
  quietHours: { start: string; end: string } | null;
  digestHour: number;
  digestWeekday: number;
  all: Array<{ channel: Channel; enabled: boolean | null; digest: string }>;
  categories: Array<{ key: string; description: string | null; critical: boolean; channels: ChannelPreference[] }>;
}

export async function readPreferences(db: Queryable, userId: string, config: Readonly<NotificationsConfig>, available: ReadonlySet<string>): Promise<Preferences> {
  const [setting, prefs, cats] = await Promise.all([
    db.query<{ time_zone: string; start: string | null; end: string | null; digest_hour: number; digest_weekday: number }>(
      `select time_zone, to_char(quiet_hours_start, 'HH24:MI') as start, to_char(quiet_hours_end, 'HH24:MI') as end, digest_hour, digest_weekday
         from notifications.user_setting where user_id = $1`,
      [userId],
    ),
    db.query<{ category: string; channel: Channel; enabled: boolean; digest: string }>('select category, channel, enabled, digest from notifications.preference where user_id = $1', [userId]),
    db.query<{ key: string; description: string | null; critical: boolean; default_channels: string[] }>('select key, description, critical, default_channels from notifications.category order by key'),
  ]);
  const s = setting.rows[0];
  const channels = CHANNELS.filter((c) => c === 'in_app' || available.has(c));
  const find = (category: string, channel: string) => prefs.rows.find((p) => p.category === category && p.channel === channel);
  return {
    timeZone: s?.time_zone ?? config.NOTIFICATIONS_DEFAULT_TIME_ZONE,
    quietHours: s?.start && s.end ? { start: s.start, end: s.end } : null,
    digestHour: s?.digest_hour ?? 8,
    digestWeekday: s?.digest_weekday ?? 1,
    all: channels.map((channel) => {
      const p = find('*', channel);
      return { channel, enabled: p?.enabled ?? null, digest: p?.digest ?? 'off' };
    }),
    categories: cats.rows.map((c) => ({
      key: c.key,
      description: c.description,
      critical: c.critical,
      channels: channels.map((channel): ChannelPreference => {
        const own = find(c.key, channel);
        const all = find('*', channel);
        const def = c.default_channels.includes(channel);
        if (c.critical) return { channel, enabled: def, digest: 'off', locked: true, source: 'default' };
        if (own) return { channel, enabled: own.enabled, digest: own.digest, locked: false, source: 'category' };
        if (all) return { channel, enabled: all.enabled, digest: all.digest, locked: false, source: 'all' };
        return { channel, enabled: def, digest: 'off', locked: false, source: 'default' };
      }),
    })),
  };
}

export interface PreferenceUpdate {
  preferences?: Array<{ category: string; channel: Channel; enabled?: boolean | null; digest?: string | null }> | null;
  timeZone?: string | null;
  quietHours?: { start: string; end: string } | null;
  clearQuietHours?: boolean | null;
  digestHour?: number | null;
  digestWeekday?: number | null;
}

export async function updatePreferences(db: Db, userId: string, u: PreferenceUpdate, available: ReadonlySet<string>, defaultTimeZone: string): Promise<void> {
  if (u.timeZone != null && !isTimeZone(u.timeZone)) throw notificationsError('notifications/invalid-time-zone', `unknown time zone "${u.timeZone}"`);
  if (u.quietHours && u.clearQuietHours) throw notificationsError('notifications/invalid-input', 'give quietHours or clearQuietHours, not both');
  const prefs = u.preferences ?? [];
  for (const p of prefs) {
    if (p.channel !== 'in_app' && !available.has(p.channel)) throw notificationsError('notifications/channel-off', `channel ${p.channel} is not enabled on this server`);
    if (p.digest != null && p.digest !== 'off' && p.channel !== 'email') throw notificationsError('notifications/invalid-input', 'digests are for the email channel');
  }
  const keys = [...new Set(prefs.map((p) => p.category).filter((c) => c !== '*'))];
  if (keys.length) {
    const r = await db.query<{ key: string; critical: boolean }>('select key, critical from notifications.category where key = any($1::text[])', [keys]);
    const known = new Map(r.rows.map((x) => [x.key, x.critical]));
    const unknown = keys.find((k) => !known.has(k));
    if (unknown) throw notificationsError('notifications/unknown-category', `no category "${unknown}"`);
    const locked = prefs.find((p) => p.category !== '*' && known.get(p.category) && p.enabled === false);
    if (locked) throw notificationsError('notifications/critical-category', `category "${locked.category}" is critical: it cannot be turned off`);
  }
  await db.tx(async (tx) => {
    const touchesSetting = u.timeZone != null || u.quietHours != null || u.clearQuietHours || u.digestHour != null || u.digestWeekday != null;
    if (touchesSetting) {
      await tx.query(
        `insert into notifications.user_setting (user_id, time_zone, quiet_hours_start, quiet_hours_end, digest_hour, digest_weekday)
         values ($1, coalesce($2, $7), $3::time, $4::time, coalesce($5, 8), coalesce($6, 1))
         on conflict (user_id) do update set
           time_zone = coalesce($2, notifications.user_setting.time_zone),
           quiet_hours_start = case when $8 then null when $3 is not null then $3::time else notifications.user_setting.quiet_hours_start end,
           quiet_hours_end = case when $8 then null when $4 is not null then $4::time else notifications.user_setting.quiet_hours_end end,
           digest_hour = coalesce($5, notifications.user_setting.digest_hour),
           digest_weekday = coalesce($6, notifications.user_setting.digest_weekday),
           updated_at = now()`,
        [userId, u.timeZone ?? null, u.quietHours?.start ?? null, u.quietHours?.end ?? null, u.digestHour ?? null, u.digestWeekday ?? null, defaultTimeZone, !!u.clearQuietHours],
      );
    }
    for (const p of prefs) {
      await tx.query(
        `insert into notifications.preference (user_id, category, channel, enabled, digest) values ($1, $2, $3, coalesce($4, true), coalesce($5, 'off'))
         on conflict (user_id, category, channel) do update set enabled = coalesce($4, notifications.preference.enabled),
           digest = coalesce($5, notifications.preference.digest), updated_at = now()`,
        [userId, p.category, p.channel, p.enabled ?? null, p.digest ?? null],
      );
    }
  });
}
