import type { ActionHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { userOf } from '../../src/plugins/notifications/lib/input.js';
import { availableChannels } from '../../src/plugins/notifications/lib/feed.js';
import { readPreferences } from '../../src/plugins/notifications/lib/preferences.js';
import type { NotificationsPreferences } from '../../src/generated/actions.js';

export const notificationsPreferences: ActionHandler<unknown, NotificationsPreferences, NotificationsConfig> = async (_input, ctx) =>
  (await readPreferences(ctx.db, userOf(ctx.session), ctx.config, availableChannels(ctx.features))) as NotificationsPreferences;
