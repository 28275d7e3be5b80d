/**
 * The notifications plugin's sending service, for other plugins' code (realtime's call notifications, stripe's
 * dunning, …): the same send as the `notificationsSend` action, and a way to make sure the categories a plugin
 * sends in exist. Reached with `ctx.optionalService(notificationsSender)` by a plugin that lists `notifications`
 * in `optionalDependsOn` (or `ctx.service` with `dependsOn`).
 */
import type { z } from 'zod';
import { defineService } from '../../../core/plugin.js';
import { emailService } from '../../email/lib/service.js';
import type { NotificationsConfig } from '../config.js';
import { CHANNELS, sendInput, type Channel } from './input.js';
import { sendNotifications, type SendResult } from './send.js';

export interface NotificationCategory {
  /** `<plugin>.<what>`, e.g. `realtime.call.incoming`. */
  key: string;
  description: string;
  /** Channels on for users who set no preference (default in-app and push). */
  defaultChannels?: Channel[];
  /** Users cannot turn it off; it skips quiet hours and digests. */
  critical?: boolean;
}

export interface NotificationsSender {
  /** Validated like the action's input; `createdBy` is recorded on the send (default: the plugin). */
  send(input: z.input<typeof sendInput>, createdBy?: string): Promise<SendResult>;
  /**
   * Creates the categories that do not exist yet. One an operator already has (or changed) is left as it is,
   * so calling this at every start is safe.
   */
  ensureCategories(categories: readonly NotificationCategory[]): Promise<void>;
}

export const notificationsSender = defineService<NotificationsSender, NotificationsConfig>({
  name: 'sender',
  create(runtime) {
    const deps = { db: runtime.db, config: runtime.config, email: runtime.optionalService(emailService) };
    return {
      send: (input, createdBy) => sendNotifications(deps, sendInput.parse(input), createdBy ?? null),
      async ensureCategories(categories) {
        for (const c of categories) {
          const channels = c.defaultChannels ?? ['in_app', 'push'];
          if (channels.some((x) => !CHANNELS.includes(x))) throw new Error(`category ${c.key}: unknown channel in ${channels.join(', ')}`);
        }
        if (!categories.length) return;
        await runtime.db.query(
          `insert into notifications.category (key, description, default_channels, critical)
             select k, d, string_to_array(ch, ','), cr from unnest($1::text[], $2::text[], $3::text[], $4::boolean[]) as u(k, d, ch, cr)
           on conflict (key) do nothing`,
          [categories.map((c) => c.key), categories.map((c) => c.description), categories.map((c) => (c.defaultChannels ?? ['in_app', 'push']).join(',')), categories.map((c) => !!c.critical)],
        );
      },
    };
  },
});
