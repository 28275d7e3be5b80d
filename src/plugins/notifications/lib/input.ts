/**
 * Runtime checks of the actions' input beyond the SDL (Hasura forwards uuid/jsonb/timestamptz arguments as the
 * client sent them). A failure is a 400 naming the field; nothing is touched.
 */
import { z } from 'zod';
import { parseHasuraTimestamp } from '../../../core/hasura-time.js';
import { notificationsError } from './errors.js';

export const CHANNELS = ['in_app', 'push', 'email', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];
export const OUT_CHANNELS = ['push', 'email', 'sms'] as const;
export type OutChannel = (typeof OUT_CHANNELS)[number];
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const DIGESTS = ['off', 'hourly', 'daily', 'weekly'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const uuid = z.string().regex(UUID, 'must be a uuid');
const userId = z.string().min(1).max(255);
const categoryKey = z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,99}$/, 'lower-case letters, digits and _ . : -, at most 100');
export const topicKey = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'letters, digits and _ . : -, at most 200');
const jsonObject = z.record(z.string(), z.unknown());
const url = z
  .string()
  .max(2000)
  .refine((v) => v.startsWith('/') || /^https?:$/.test(URL.canParse(v) ? new URL(v).protocol : ''), { message: 'must be an http(s) URL or a path starting with /' });

export const sendInput = z
  .object({
    userIds: z.array(userId).nullish(),
    topic: topicKey.nullish(),
    category: categoryKey,
    title: z.string().min(1).max(500).nullish(),
    body: z.string().max(10_000).nullish(),
    template: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/).nullish(),
    data: jsonObject.nullish(),
    actionUrl: url.nullish(),
    groupKey: z.string().min(1).max(200).nullish(),
    priority: z.enum(PRIORITIES).nullish(),
    channels: z.array(z.enum(CHANNELS)).max(4).nullish(),
    idempotencyKey: z.string().min(1).max(255).nullish(),
    actorId: userId.nullish(),
    inApp: z.boolean().nullish(),
  })
  .refine((v) => (v.userIds == null) !== (v.topic == null), { message: 'give userIds or a topic, not both', path: ['userIds'] })
  .refine((v) => v.template != null || v.title != null, { message: 'give a title or a template', path: ['title'] })
  .refine((v) => v.template == null || (v.title == null && v.body == null), { message: 'give a template or title/body, not both', path: ['template'] })
  .refine((v) => v.data == null || JSON.stringify(v.data).length <= 65_536, { message: 'at most 64 KB', path: ['data'] });
export type SendInput = z.output<typeof sendInput>;

export const idsInput = z.object({ ids: z.array(uuid).min(1).max(1000) });
export const optionalIdsInput = z.object({ ids: z.array(uuid).min(1).max(1000).nullish() });
export const archiveInput = idsInput.extend({ archived: z.boolean().nullish() });
export const markAllInput = z.object({
  category: categoryKey.nullish(),
  before: z
    .string()
    .nullish()
    .refine((v) => v == null || parseHasuraTimestamp(v) !== undefined, { message: 'must be an ISO-8601 timestamp' }),
});

const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');
export const updatePreferencesInput = z.object({
  preferences: z
    .array(
      z.object({
        category: z.union([categoryKey, z.literal('*')]),
        channel: z.enum(CHANNELS),
        enabled: z.boolean().nullish(),
        digest: z.enum(DIGESTS).nullish(),
      }),
    )
    .max(200)
    .nullish(),
  timeZone: z.string().min(1).max(64).nullish(),
  quietHours: z.object({ start: time, end: time }).nullish(),
  clearQuietHours: z.boolean().nullish(),
  digestHour: z.number().int().min(0).max(23).nullish(),
  digestWeekday: z.number().int().min(1).max(7).nullish(),
});

export const registerInput = z
  .object({
    webPush: z
      .object({
        endpoint: z.string().max(2048),
        keys: z.object({ p256dh: z.string().max(200), auth: z.string().max(100) }),
      })
      .nullish(),
    fcmToken: z.string().regex(/^[A-Za-z0-9:_-]{20,4096}$/, 'is not an FCM registration token').nullish(),
    apnsToken: z.string().regex(/^[0-9a-fA-F]{64,200}$/, 'is not an APNs device token (hex)').nullish(),
    deviceId: z.string().min(1).max(255).nullish(),
    platform: z.enum(['web', 'android', 'ios', 'macos', 'windows', 'linux']).nullish(),
    userAgent: z.string().max(500).nullish(),
  })
  .refine((v) => [v.webPush, v.fcmToken, v.apnsToken].filter((x) => x != null).length === 1, { message: 'give exactly one of webPush, fcmToken, apnsToken' });

export const unregisterInput = z
  .object({ id: uuid.nullish(), endpoint: z.string().max(2048).nullish(), token: z.string().max(4096).nullish() })
  .refine((v) => [v.id, v.endpoint, v.token].filter((x) => x != null).length === 1, { message: 'give exactly one of id, endpoint, token' });

export const topicInput = z.object({ topic: topicKey, userIds: z.array(userId).min(1).max(10_000).nullish() });

export const contactInput = z.object({
  userId,
  email: z.string().max(320).nullish(),
  phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 number such as +4915123456789').nullish(),
  locale: z.string().min(2).max(35).nullish(),
  timeZone: z.string().min(1).max(64).nullish(),
});

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`);
  throw notificationsError('notifications/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

/** The caller's user id; actions of the `user` role need one. */
export function userOf(session: { userId: string | null }): string {
  if (!session.userId) throw notificationsError('notifications/no-user');
  return session.userId;
}
