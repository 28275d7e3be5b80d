import type { ActionHandler } from '../../src/core/plugin.js';
import type { NotificationsConfig } from '../../src/plugins/notifications/config.js';
import { parseInput, updatePreferencesInput, userOf } from '../../src/plugins/notifications/lib/input.js';
import { availableChannels } from '../../src/plugins/notifications/lib/feed.js';
import { readPreferences, updatePreferences } from '../../src/plugins/notifications/lib/preferences.js';
import type { NotificationsPreferences } from '../../src/generated/actions.js';

/** Applies the changes in one transaction and answers the preferences as they are now. */
export const notificationsUpdatePreferences: ActionHandler<unknown, NotificationsPreferences, NotificationsConfig> = async (input, ctx) => {
  const u = parseInput(updatePreferencesInput, input);
  const user = userOf(ctx.session);
  const available = availableChannels(ctx.features);
  await updatePreferences(ctx.db, user, u, available, ctx.config.NOTIFICATIONS_DEFAULT_TIME_ZONE);
  return (await readPreferences(ctx.db, user, ctx.config, available)) as NotificationsPreferences;
};
