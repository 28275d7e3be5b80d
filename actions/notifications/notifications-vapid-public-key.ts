import type { ActionHandler } from '../../src/core/plugin.js';
import { pushService } from '../../src/plugins/notifications/lib/push/service.js';
import type { NotificationsVapidKey } from '../../src/generated/actions.js';

/** The application server key a browser passes to PushManager.subscribe. */
export const notificationsVapidPublicKey: ActionHandler<unknown, NotificationsVapidKey> = async (_input, ctx) => ({
  publicKey: ctx.service(pushService).vapidPublicKey,
});
