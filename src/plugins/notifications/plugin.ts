import { definePlugin, type SelectPermission, type TableSpec } from '../../core/plugin.js';
import { notificationsConfig } from './config.js';
import { notificationsSender } from './lib/sender.js';
import { pushService } from './lib/push/service.js';
import { smsService } from './lib/sms/service.js';
import { emailJob, pushGroupJob, pushJob, smsJob } from './lib/jobs.js';
import { notificationsSend } from '../../../actions/notifications/notifications-send.js';
import { notificationsMarkRead } from '../../../actions/notifications/notifications-mark-read.js';
import { notificationsMarkAllRead } from '../../../actions/notifications/notifications-mark-all-read.js';
import { notificationsMarkSeen } from '../../../actions/notifications/notifications-mark-seen.js';
import { notificationsArchive } from '../../../actions/notifications/notifications-archive.js';
import { notificationsPreferences } from '../../../actions/notifications/notifications-preferences.js';
import { notificationsUpdatePreferences } from '../../../actions/notifications/notifications-update-preferences.js';
import { notificationsRegisterPushSubscription } from '../../../actions/notifications/notifications-register-push-subscription.js';
import { notificationsUnregisterPushSubscription } from '../../../actions/notifications/notifications-unregister-push-subscription.js';
import { notificationsVapidPublicKey } from '../../../actions/notifications/notifications-vapid-public-key.js';
import { notificationsSubscribeTopic } from '../../../actions/notifications/notifications-subscribe-topic.js';
import { notificationsUnsubscribeTopic } from '../../../actions/notifications/notifications-unsubscribe-topic.js';
import { notificationsSetContact } from '../../../actions/notifications/notifications-set-contact.js';
import { notificationsNotificationCreated } from '../../../event-triggers/notifications/notifications-notification-created.js';
import { notificationsDigestSend } from '../../../cron-triggers/notifications/notifications-digest-send.js';
import { notificationsPrune } from '../../../cron-triggers/notifications/notifications-prune.js';

const OWN = { user_id: { _eq: 'X-Hasura-User-Id' } };
const BACKEND = ['service'];
const USERS = ['user'];

const own = (columns: string[], extra: Record<string, unknown> = {}, aggregations = false): SelectPermission => ({
  role: 'user',
  permission: { columns, filter: { ...OWN, ...extra }, ...(aggregations ? { allow_aggregations: true } : {}) },
});
const service = (columns: string[] | '*'): SelectPermission => ({ role: 'service', permission: { columns, filter: {}, allow_aggregations: true } });
const table = (name: string, spec: Omit<TableSpec, 'table'>): TableSpec => ({ table: { schema: 'notifications', name }, configuration: { custom_name: `notifications_${name}` }, ...spec });

const NOTIFICATION_COLUMNS = ['id', 'category', 'title', 'body', 'data', 'action_url', 'group_key', 'priority', 'actor_id', 'topic', 'created_at', 'seen_at', 'read_at', 'archived_at'];

export const notificationsPlugin = definePlugin({
  name: 'notifications',
  version: '0.1.0',
  description:
    'Multi-channel notifications: an in-app centre (a Hasura subscription), Web Push, FCM and APNs, email and SMS, with per-category and per-channel preferences, quiet hours in the user\'s zone, email digests, grouping, topics and tracked deliveries.',
  dependsOn: ['jobs', 'email'],
  config: notificationsConfig,
  features: {
    push: { description: 'Web Push (VAPID), FCM and APNs to registered devices', default: true },
    email: { description: 'Email per notification and email digests, through the email plugin', default: true },
    sms: { description: 'SMS through Twilio or the SMS outbox (default), for categories and sends that ask for it', default: true },
  },
  services: [pushService, smsService, notificationsSender],
  jobs: [pushJob, pushGroupJob, emailJob, smsJob],
  tables: [
    table('notification', {
      select_permissions: [own(NOTIFICATION_COLUMNS, { in_app: { _eq: true } }, true), service('*')],
      array_relationships: [{ name: 'deliveries', using: { foreign_key_constraint_on: { table: { schema: 'notifications', name: 'delivery' }, column: 'notification_id' } } }],
      event_triggers: [
        {
          name: 'notifications_notification_created',
          definition: { enable_manual: true, insert: { columns: '*' } },
          retry_conf: { num_retries: 8, interval_sec: 15, timeout_sec: 60 },
          handler: notificationsNotificationCreated,
          comment: 'Plans push, email and SMS deliveries of a new notification',
        },
      ],
    }),
    table('delivery', {
      select_permissions: [own(['id', 'notification_id', 'channel', 'status', 'reason', 'scheduled_for', 'created_at', 'sent_at']), service('*')],
      object_relationships: [{ name: 'notification', using: { foreign_key_constraint_on: 'notification_id' } }],
    }),
    table('category', {
      select_permissions: [
        { role: 'user', permission: { columns: ['key', 'description', 'default_channels', 'critical'], filter: {} } },
        service('*'),
      ],
      insert_permissions: [{ role: 'service', permission: { check: {}, columns: ['key', 'description', 'default_channels', 'critical', 'email_template', 'group_summary', 'group_window_seconds'] } }],
      update_permissions: [{ role: 'service', permission: { columns: ['description', 'default_channels', 'critical', 'email_template', 'group_summary', 'group_window_seconds'], filter: {}, check: {} } }],
    }),
    table('preference', { select_permissions: [own(['category', 'channel', 'enabled', 'digest', 'updated_at']), service('*')] }),
    table('user_setting', {
      select_permissions: [own(['time_zone', 'quiet_hours_start', 'quiet_hours_end', 'locale', 'email', 'phone', 'digest_hour', 'digest_weekday', 'updated_at']), service('*')],
    }),
    table('push_subscription', {
      feature: 'push',
      select_permissions: [own(['id', 'kind', 'device_id', 'platform', 'user_agent', 'created_at', 'last_used_at', 'last_success_at', 'failures']), service(['id', 'user_id', 'kind', 'device_id', 'platform', 'user_agent', 'created_at', 'last_used_at', 'last_success_at', 'failures', 'last_error'])],
    }),
    table('topic', {
      select_permissions: [{ role: 'user', permission: { columns: ['key', 'description', 'public'], filter: { public: { _eq: true } } } }, service('*')],
      insert_permissions: [{ role: 'service', permission: { check: {}, columns: ['key', 'description', 'public'] } }],
      update_permissions: [{ role: 'service', permission: { columns: ['description', 'public'], filter: {}, check: {} } }],
      delete_permissions: [{ role: 'service', permission: { filter: {} } }],
    }),
    table('topic_subscription', { select_permissions: [own(['topic', 'created_at']), service('*')] }),
    table('send', { select_permissions: [service('*')] }),
    table('digest', { feature: 'email', select_permissions: [own(['id', 'period', 'period_key', 'notification_count', 'created_at']), service('*')] }),
    table('sms_message', { feature: 'sms', select_permissions: [service('*')] }),
  ],
  actions: {
    notificationsSend: { handler: notificationsSend, permissions: BACKEND, timeout: 60 },
    notificationsMarkRead: { handler: notificationsMarkRead, permissions: USERS, timeout: 10 },
    notificationsMarkAllRead: { handler: notificationsMarkAllRead, permissions: USERS, timeout: 30 },
    notificationsMarkSeen: { handler: notificationsMarkSeen, permissions: USERS, timeout: 10 },
    notificationsArchive: { handler: notificationsArchive, permissions: USERS, timeout: 10 },
    notificationsPreferences: { handler: notificationsPreferences, permissions: USERS, timeout: 10 },
    notificationsUpdatePreferences: { handler: notificationsUpdatePreferences, permissions: USERS, timeout: 10 },
    notificationsRegisterPushSubscription: { handler: notificationsRegisterPushSubscription, permissions: USERS, timeout: 10, feature: 'push' },
    notificationsUnregisterPushSubscription: { handler: notificationsUnregisterPushSubscription, permissions: USERS, timeout: 10, feature: 'push' },
    notificationsVapidPublicKey: { handler: notificationsVapidPublicKey, permissions: USERS, timeout: 10, feature: 'push' },
    notificationsSubscribeTopic: { handler: notificationsSubscribeTopic, permissions: [...USERS, ...BACKEND], timeout: 30 },
    notificationsUnsubscribeTopic: { handler: notificationsUnsubscribeTopic, permissions: [...USERS, ...BACKEND], timeout: 30 },
    notificationsSetContact: { handler: notificationsSetContact, permissions: BACKEND, timeout: 10 },
  },
  crons: {
    notifications_digest_send: {
      schedule: '0 * * * *',
      payload: {},
      feature: 'email',
      retry_conf: { num_retries: 3, retry_interval_seconds: 120, timeout_seconds: 600, tolerance_seconds: 3000 },
      comment: 'Sends the email digests due this hour, in each user\'s time zone',
      handler: notificationsDigestSend,
    },
    notifications_prune: {
      schedule: '27 4 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 600, timeout_seconds: 600, tolerance_seconds: 21600 },
      comment: 'Deletes read or archived notifications past NOTIFICATIONS_RETENTION_DAYS',
      handler: notificationsPrune,
    },
  },
});
