/**
 * The push senders (feature `push`): Web Push always (with VAPID keys from the settings, or generated on the
 * first start and kept in notifications.vapid_key so every replica signs with the same pair), FCM and APNs
 * when configured.
 */
import { readFileSync } from 'node:fs';
import webpush from 'web-push';
import { defineService, type Queryable } from '../../../../core/plugin.js';
import type { NotificationsConfig } from '../../config.js';
import { apnsSender } from './apns.js';
import { fcmSender, type ServiceAccount } from './fcm.js';
import type { PushSender, PushTarget } from './types.js';
import { webPushSender, type VapidKeys } from './webpush.js';

export interface PushSenders {
  readonly vapidPublicKey: string;
  /** The sender of a subscription's kind; undefined when that kind is not configured (FCM, APNs). */
  sender(kind: PushTarget['kind']): PushSender | undefined;
  readonly kinds: ReadonlyArray<PushTarget['kind']>;
}

export async function loadVapidKeys(db: Queryable, config: NotificationsConfig): Promise<VapidKeys> {
  const subject = config.NOTIFICATIONS_VAPID_SUBJECT;
  if (config.NOTIFICATIONS_VAPID_PUBLIC_KEY && config.NOTIFICATIONS_VAPID_PRIVATE_KEY) {
    return { publicKey: config.NOTIFICATIONS_VAPID_PUBLIC_KEY, privateKey: config.NOTIFICATIONS_VAPID_PRIVATE_KEY, subject };
  }
  const fresh = webpush.generateVAPIDKeys();
  // The first replica's pair wins; the others read it.
  await db.query('insert into notifications.vapid_key (id, public_key, private_key) values (1, $1, $2) on conflict (id) do nothing', [fresh.publicKey, fresh.privateKey]);
  const r = await db.query<{ public_key: string; private_key: string }>('select public_key, private_key from notifications.vapid_key where id = 1');
  return { publicKey: r.rows[0]!.public_key, privateKey: r.rows[0]!.private_key, subject };
}

export const pushService = defineService<PushSenders, NotificationsConfig>({
  name: 'push',
  feature: 'push',
  async create(runtime) {
    const config = runtime.config;
    const ca = config.NOTIFICATIONS_PUSH_CA_FILE ? readFileSync(config.NOTIFICATIONS_PUSH_CA_FILE, 'utf8') : undefined;
    const vapid = await loadVapidKeys(runtime.db, config);
    const senders = new Map<PushTarget['kind'], PushSender>([['webpush', webPushSender(vapid, ca)]]);
    if (config.NOTIFICATIONS_FCM_SERVICE_ACCOUNT) {
      senders.set('fcm', fcmSender(JSON.parse(config.NOTIFICATIONS_FCM_SERVICE_ACCOUNT) as ServiceAccount, config.NOTIFICATIONS_FCM_API_URL));
    }
    if (config.NOTIFICATIONS_APNS_KEY) {
      senders.set(
        'apns',
        apnsSender({
          key: config.NOTIFICATIONS_APNS_KEY,
          keyId: config.NOTIFICATIONS_APNS_KEY_ID!,
          teamId: config.NOTIFICATIONS_APNS_TEAM_ID!,
          topic: config.NOTIFICATIONS_APNS_TOPIC!,
          url: config.NOTIFICATIONS_APNS_URL,
          ...(ca ? { ca } : {}),
        }),
      );
    }
    return { vapidPublicKey: vapid.publicKey, sender: (kind) => senders.get(kind), kinds: [...senders.keys()], close: () => Promise.all([...senders.values()].map((s) => s.close())) } as PushSenders & { close(): Promise<unknown> };
  },
  async close(s) {
    await (s as PushSenders & { close(): Promise<unknown> }).close();
  },
});
