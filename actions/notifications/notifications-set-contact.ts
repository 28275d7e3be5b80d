import type { ActionHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { parseMailbox } from '../../src/plugins/email/lib/address.js';
import { canonicalLocale } from '../../src/plugins/email/lib/locale.js';
import { notificationsError } from '../../src/plugins/notifications/lib/errors.js';
import { contactInput, parseInput } from '../../src/plugins/notifications/lib/input.js';
import { isTimeZone } from '../../src/plugins/notifications/lib/time.js';
import type { NotificationsContactResult } from '../../src/generated/actions.js';

/**
 * Where a user is reached, set by a backend (from the auth service's verified data), never by the user: an
 * address a user could set unverified would let anyone send this app's mail and SMS to a stranger.
 * A field left out is kept; an empty string clears it.
 */
export const notificationsSetContact: ActionHandler<unknown, NotificationsContactResult, NotificationsConfig> = async (input, ctx) => {
  const c = parseInput(contactInput, input);
  const email = c.email === '' ? '' : c.email == null ? null : parseMailbox(c.email)?.address;
  if (email === undefined) throw notificationsError('notifications/invalid-input', 'email is not a valid address');
  const locale = c.locale == null ? null : canonicalLocale(c.locale);
  if (c.locale != null && !locale) throw notificationsError('notifications/invalid-input', 'locale must be a BCP 47 tag');
  if (c.timeZone != null && !isTimeZone(c.timeZone)) throw notificationsError('notifications/invalid-time-zone');
  await ctx.db.query(
    `insert into notifications.user_setting (user_id, email, phone, locale, time_zone) values ($1, nullif($2, ''), $3, $4, coalesce($5, $6))
     on conflict (user_id) do update set
       email = case when $2 is null then notifications.user_setting.email else nullif($2, '') end,
       phone = coalesce($3, notifications.user_setting.phone),
       locale = coalesce($4, notifications.user_setting.locale),
       time_zone = coalesce($5, notifications.user_setting.time_zone), updated_at = now()`,
    [c.userId, email, c.phone ?? null, locale, c.timeZone ?? null, ctx.config.NOTIFICATIONS_DEFAULT_TIME_ZONE],
  );
  return { userId: c.userId };
};
