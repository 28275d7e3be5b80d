import type { ActionHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { emailService } from '../../src/plugins/email/index.js';
import { parseInput, sendInput } from '../../src/plugins/notifications/lib/input.js';
import { sendNotifications } from '../../src/plugins/notifications/lib/send.js';
import type { NotificationsSendResult } from '../../src/generated/actions.js';

/** Writes one in-app row per recipient; the rows' event trigger plans push, email and SMS. */
export const notificationsSend: ActionHandler<unknown, NotificationsSendResult, NotificationsConfig> = async (input, ctx) => {
  const args = parseInput(sendInput, input);
  return sendNotifications({ db: ctx.db, config: ctx.config, email: ctx.optionalService(emailService) }, args, ctx.session.userId ?? ctx.session.role);
};
