/**
 * The notifications plugin's public API for other plugins:
 *
 *   import { notificationsSender } from '<path>/plugins/notifications/index.js';
 *   await ctx.optionalService(notificationsSender)?.send({ userIds, category, title, body });
 *
 * Most plugins notify by inserting into notifications.notification (their rows fan out like any other) or by
 * calling the notificationsSend action; the senders are services for code that pushes itself.
 */
export { pushService, type PushSenders } from './lib/push/service.js';
export { smsService, type SmsSender } from './lib/sms/service.js';
export { sendNotifications, type SendResult } from './lib/send.js';
export { notificationsSender, type NotificationsSender, type NotificationCategory } from './lib/sender.js';
export type { SendInput as NotificationsSendInput, Channel, Priority } from './lib/input.js';
export type { NotificationsConfig } from './config.js';
