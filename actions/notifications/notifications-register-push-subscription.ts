import type { ActionHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { notificationsError } from '../../src/plugins/notifications/lib/errors.js';
import { parseInput, registerInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { pushService } from '../../src/plugins/notifications/lib/push/service.js';
import { checkWebPush } from '../../src/plugins/notifications/lib/subscriptions.js';
import type { NotificationsPushSubscriptionResult } from '../../src/generated/actions.js';

/**
 * Registers (or refreshes) a device. The endpoint or token is unique: registering one another user had (a
 * shared device after a sign-out) moves it to the caller, so pushes follow whoever is signed in.
 */
export const notificationsRegisterPushSubscription: ActionHandler<unknown, NotificationsPushSubscriptionResult, NotificationsConfig> = async (input, ctx) => {
  const a = parseInput(registerInput, input);
  const user = userOf(ctx.session);
  const kind = a.webPush ? 'webpush' : a.fcmToken ? 'fcm' : 'apns';
  if (a.webPush) checkWebPush(a.webPush, ctx.config.NOTIFICATIONS_WEBPUSH_ENDPOINT_HOSTS);
  if (!ctx.service(pushService).kinds.includes(kind)) throw notificationsError('notifications/channel-off', `${kind} is not configured on this server`);
  const r = await ctx.db.query<{ id: string }>(
    `insert into notifications.push_subscription (user_id, kind, endpoint, p256dh, auth, token, device_id, platform, user_agent)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (kind, coalesce(endpoint, token)) do update set user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
       device_id = excluded.device_id, platform = excluded.platform, user_agent = excluded.user_agent, failures = 0, last_error = null
     returning id`,
    [
      user, kind, a.webPush?.endpoint ?? null, a.webPush?.keys.p256dh ?? null, a.webPush?.keys.auth ?? null,
      a.fcmToken ?? a.apnsToken?.toLowerCase() ?? null, a.deviceId ?? null, a.platform ?? (kind === 'webpush' ? 'web' : kind === 'apns' ? 'ios' : null), a.userAgent ?? null,
    ],
  );
  return { id: r.rows[0]!.id };
};
