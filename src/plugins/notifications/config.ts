import { z } from 'zod';
import { forFeature, secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);
const httpUrl = (def: string, description: string) =>
  z
    .string()
    .url()
    .refine((v) => /^https?:$/.test(new URL(v).protocol), { message: 'must be an http(s) URL' })
    .default(def)
    .describe(description);

export const notificationsConfig = z
  .object({
    NOTIFICATIONS_MAX_RECIPIENTS: int(1, 100_000, 10_000, 'Most users one notificationsSend reaches (user ids, or the subscribers of a topic).'),
    NOTIFICATIONS_DEFAULT_TIME_ZONE: z.string().min(1).max(64).default('UTC').describe('Time zone of users who set none (quiet hours, digests).'),
    NOTIFICATIONS_RETENTION_DAYS: int(0, 3650, 180, 'Days to keep read or archived notifications (0: forever); unread ones are kept.'),
    NOTIFICATIONS_DELIVERY_ATTEMPTS: int(1, 100, 8, 'Attempts per push, email or SMS delivery before it fails (exponential backoff).'),
    NOTIFICATIONS_DELIVERY_BACKOFF_MS: int(100, 3_600_000, 1000, 'Base delay of the delivery retry backoff (doubles each attempt).'),

    NOTIFICATIONS_VAPID_PUBLIC_KEY: forFeature('push', z.string().regex(/^[A-Za-z0-9_-]{87}$/, 'must be a base64url P-256 public key'))
      .optional()
      .describe('Web Push VAPID public key (with the private key). Default: a pair generated on first start and kept in the database.'),
    NOTIFICATIONS_VAPID_PRIVATE_KEY: forFeature('push', secret(z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url P-256 private key')))
      .optional()
      .describe('Web Push VAPID private key.'),
    NOTIFICATIONS_VAPID_SUBJECT: forFeature('push', z.string().regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https: URL'))
      .default('mailto:no-reply@localhost')
      .describe('Contact push services see in the VAPID token (mailto: or https:).'),
    NOTIFICATIONS_WEBPUSH_ENDPOINT_HOSTS: forFeature('push', z.string().min(1))
      .default('fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,web.push.apple.com,*.push.apple.com')
      .describe('Hosts a Web Push endpoint may name (comma-separated, *.domain for subdomains, * for any): the server POSTs to these, so they are the browsers\' push services, never an internal address.'),
    NOTIFICATIONS_PUSH_CA_FILE: forFeature('push', z.string().min(1))
      .optional()
      .describe('PEM file of extra certificate authorities trusted for Web Push and APNs endpoints (a private push service).'),
    NOTIFICATIONS_FCM_SERVICE_ACCOUNT: forFeature('push', secret(z.string().min(2)))
      .optional()
      .describe('Firebase service account JSON (project_id, client_email, private_key). Unset: no FCM.'),
    NOTIFICATIONS_FCM_API_URL: forFeature('push', httpUrl('https://fcm.googleapis.com', 'FCM HTTP v1 API base URL.')),
    NOTIFICATIONS_APNS_KEY: forFeature('push', secret(z.string().includes('PRIVATE KEY', { message: 'must be the .p8 key in PEM form' })))
      .optional()
      .describe('APNs token-auth key (.p8, PEM). With NOTIFICATIONS_APNS_KEY_ID, _TEAM_ID and _TOPIC. Unset: no APNs.'),
    NOTIFICATIONS_APNS_KEY_ID: forFeature('push', z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key id')).optional().describe('APNs key id.'),
    NOTIFICATIONS_APNS_TEAM_ID: forFeature('push', z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team id')).optional().describe('Apple developer team id.'),
    NOTIFICATIONS_APNS_TOPIC: forFeature('push', z.string().min(1).max(255)).optional().describe('The app\'s bundle id (apns-topic).'),
    NOTIFICATIONS_APNS_URL: forFeature('push', httpUrl('https://api.push.apple.com', 'APNs base URL (https://api.sandbox.push.apple.com for development builds).')),

    NOTIFICATIONS_SMS_TRANSPORT: forFeature('sms', z.enum(['outbox', 'twilio']))
      .default('outbox')
      .describe('Where SMS go: outbox (stored in notifications.sms_message, readable by admins) or twilio.'),
    NOTIFICATIONS_TWILIO_ACCOUNT_SID: forFeature('sms', z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be an AC… account SID')).optional().describe('Twilio account SID.'),
    NOTIFICATIONS_TWILIO_AUTH_TOKEN: forFeature('sms', secret(z.string().min(16))).optional().describe('Twilio auth token.'),
    NOTIFICATIONS_TWILIO_FROM: forFeature('sms', z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 number')).optional().describe('Sending number (or set the messaging service).'),
    NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID: forFeature('sms', z.string().regex(/^MG[0-9a-fA-F]{32}$/)).optional().describe('Twilio messaging service SID (instead of a From number).'),
    NOTIFICATIONS_TWILIO_API_URL: forFeature('sms', httpUrl('https://api.twilio.com', 'Twilio REST API base URL.')),
  })
  .superRefine((c, ctx) => {
    const apns = [c.NOTIFICATIONS_APNS_KEY, c.NOTIFICATIONS_APNS_KEY_ID, c.NOTIFICATIONS_APNS_TEAM_ID, c.NOTIFICATIONS_APNS_TOPIC];
    if (apns.some((v) => v !== undefined) && apns.some((v) => v === undefined)) {
      for (const k of ['NOTIFICATIONS_APNS_KEY', 'NOTIFICATIONS_APNS_KEY_ID', 'NOTIFICATIONS_APNS_TEAM_ID', 'NOTIFICATIONS_APNS_TOPIC'] as const) {
        if (c[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required with the other APNs settings' });
      }
    }
    if ((c.NOTIFICATIONS_VAPID_PUBLIC_KEY === undefined) !== (c.NOTIFICATIONS_VAPID_PRIVATE_KEY === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.NOTIFICATIONS_VAPID_PUBLIC_KEY ? 'NOTIFICATIONS_VAPID_PRIVATE_KEY' : 'NOTIFICATIONS_VAPID_PUBLIC_KEY'], message: 'is required with the other VAPID key' });
    }
    if (c.NOTIFICATIONS_SMS_TRANSPORT === 'twilio') {
      for (const k of ['NOTIFICATIONS_TWILIO_ACCOUNT_SID', 'NOTIFICATIONS_TWILIO_AUTH_TOKEN'] as const) {
        if (c[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required with NOTIFICATIONS_SMS_TRANSPORT=twilio' });
      }
      if (!c.NOTIFICATIONS_TWILIO_FROM && !c.NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID) {
        ctx.addIssue({ code: 'custom', path: ['NOTIFICATIONS_TWILIO_FROM'], message: 'is required with NOTIFICATIONS_SMS_TRANSPORT=twilio (or NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID)' });
      }
    }
    if (c.NOTIFICATIONS_FCM_SERVICE_ACCOUNT !== undefined) {
      try {
        const sa = JSON.parse(c.NOTIFICATIONS_FCM_SERVICE_ACCOUNT) as Record<string, unknown>;
        for (const f of ['project_id', 'client_email', 'private_key']) if (typeof sa[f] !== 'string') throw new Error(`has no ${f}`);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['NOTIFICATIONS_FCM_SERVICE_ACCOUNT'], message: `must be a service account JSON: ${(e as Error).message}` });
      }
    }
  });

export type NotificationsConfig = z.infer<typeof notificationsConfig>;
