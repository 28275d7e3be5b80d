/**
 * Notifications: the in-app centre as live queries (feed, unread badge), marking, preferences and Web Push
 * registration through the page's service worker (src/plugins/notifications/README.md).
 */
import type { NselfClient, Subscription } from './core.js';
import { NselfError } from './errors.js';
import { browser, type ServiceWorkerRegistrationLike } from './browser.js';
import {
  NotificationsArchiveDocument,
  NotificationsFeedDocument,
  NotificationsMarkAllReadDocument,
  NotificationsMarkReadDocument,
  NotificationsMarkSeenDocument,
  NotificationsOlderDocument,
  NotificationsPreferencesDocument,
  NotificationsRegisterWebPushDocument,
  NotificationsSendDocument,
  NotificationsUnreadDocument,
  NotificationsUnregisterPushDocument,
  NotificationsUpdatePreferencesDocument,
  NotificationsVapidPublicKeyDocument,
  type NotificationsFeedSubscription,
  type NotificationsPreferencesFieldsFragment,
  type NotificationsSendMutationVariables,
  type NotificationsUpdatePreferencesMutationVariables,
} from './generated/operations.js';

export type Notification = NotificationsFeedSubscription['notifications_notification'][number];
export type NotificationPreferences = NotificationsPreferencesFieldsFragment;
export type PreferencesUpdate = NotificationsUpdatePreferencesMutationVariables;

/** The VAPID key as PushManager.subscribe wants it. */
export function base64UrlToBytes(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(b64url.length / 4) * 4, '=');
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function createNotifications(client: NselfClient) {
  return {
    onFeed: (listener: (items: Notification[]) => void, opts: { limit?: number; onError?: (e: NselfError) => void } = {}): Subscription =>
      client.subscribe(NotificationsFeedDocument, { limit: opts.limit ?? 30 }, { next: (d) => listener(d.notifications_notification), ...(opts.onError ? { error: opts.onError } : {}) }),
    onUnreadCount: (listener: (count: number) => void, onError?: (e: NselfError) => void): Subscription =>
      client.subscribe(NotificationsUnreadDocument, {}, { next: (d) => listener(d.notifications_notification_aggregate.aggregate?.count ?? 0), ...(onError ? { error: onError } : {}) }),
    older: async (before: string, limit = 30) => (await client.request(NotificationsOlderDocument, { before, limit })).notifications_notification,
    markRead: async (ids: string[]) => (await client.request(NotificationsMarkReadDocument, { ids })).notificationsMarkRead,
    markAllRead: async (category?: string) => (await client.request(NotificationsMarkAllReadDocument, { category: category ?? null })).notificationsMarkAllRead,
    markSeen: async (ids?: string[]) => (await client.request(NotificationsMarkSeenDocument, { ids: ids ?? null })).notificationsMarkSeen,
    archive: async (ids: string[], archived = true) => (await client.request(NotificationsArchiveDocument, { ids, archived })).notificationsArchive,
    preferences: async (): Promise<NotificationPreferences> => (await client.request(NotificationsPreferencesDocument, {})).notificationsPreferences,
    updatePreferences: async (update: PreferencesUpdate): Promise<NotificationPreferences> =>
      (await client.request(NotificationsUpdatePreferencesDocument, update)).notificationsUpdatePreferences,
    /**
     * Subscribes this browser to Web Push through the service worker at `serviceWorker` (or an existing
     * registration) with the server's VAPID key, and registers the subscription. Asks for permission first.
     */
    async registerWebPush(opts: { serviceWorker?: string; registration?: ServiceWorkerRegistrationLike; deviceId?: string } = {}) {
      const { navigator, Notification } = browser();
      const sw = navigator?.serviceWorker;
      if (!navigator || !sw) throw new NselfError('Web Push needs a browser with service workers', 'unsupported');
      if (Notification && Notification.permission !== 'granted' && (await Notification.requestPermission()) !== 'granted')
        throw new NselfError('notification permission was not granted', 'permission-denied');
      const registration = opts.registration ?? (await sw.register(opts.serviceWorker ?? '/sw.js'));
      await sw.ready;
      const { publicKey } = (await client.request(NotificationsVapidPublicKeyDocument, {})).notificationsVapidPublicKey;
      const sub =
        (await registration.pushManager.getSubscription()) ??
        (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) }));
      const json = sub.toJSON() as { endpoint: string; expirationTime?: number | null; keys: { p256dh: string; auth: string } };
      const { id } = (
        await client.request(NotificationsRegisterWebPushDocument, {
          webPush: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } },
          deviceId: opts.deviceId ?? null,
          userAgent: navigator.userAgent.slice(0, 500),
        })
      ).notificationsRegisterPushSubscription;
      return { id, endpoint: json.endpoint, subscription: sub };
    },
    async unregisterWebPush(endpoint: string) {
      return (await client.request(NotificationsUnregisterPushDocument, { endpoint })).notificationsUnregisterPushSubscription;
    },
    /** Backends (service role): send a notification. */
    send: async (v: NotificationsSendMutationVariables) => (await client.request(NotificationsSendDocument, v)).notificationsSend,
  };
}

export type Notifications = ReturnType<typeof createNotifications>;
