/**
 * `notificationsSend`: the rows of the in-app centre, one per recipient, written in one INSERT … SELECT with
 * each user's in-app preference joined in. Their INSERT fires notifications_notification_created, which plans
 * the other channels. A template (an email.template key) is rendered once per recipient locale: its subject
 * becomes the title, its text part the body.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../../../core/plugin.js';
import { ActionError } from '../../../core/errors.js';
import type { EmailApi } from '../../email/index.js';
import type { NotificationsConfig } from '../config.js';
import { notificationsError } from './errors.js';
import type { SendInput } from './input.js';

export interface SendResult {
  sendId: string;
  notificationCount: number;
  duplicate: boolean;
}

export interface CategoryRow {
  key: string;
  default_channels: string[];
  critical: boolean;
  email_template: string | null;
  group_summary: string;
  group_window_seconds: number;
}

export async function categoryOf(db: Db, key: string): Promise<CategoryRow> {
  const r = await db.query<CategoryRow>(
    'select key, default_channels, critical, email_template, group_summary, group_window_seconds from notifications.category where key = $1',
    [key],
  );
  if (!r.rows[0]) throw notificationsError('notifications/unknown-category', `no category "${key}"`);
  return r.rows[0];
}

async function recipients(db: Db, input: SendInput, max: number): Promise<string[]> {
  if (input.topic != null) {
    const t = await db.query('select 1 from notifications.topic where key = $1', [input.topic]);
    if (!t.rowCount) throw notificationsError('notifications/unknown-topic', `no topic "${input.topic}"`);
    const r = await db.query<{ user_id: string }>('select user_id from notifications.topic_subscription where topic = $1 order by user_id limit $2', [input.topic, max + 1]);
    if (r.rows.length > max) throw notificationsError('notifications/too-many-recipients', `topic "${input.topic}" has more than ${max} subscribers`);
    return r.rows.map((x) => x.user_id);
  }
  const users = [...new Set(input.userIds!)];
  if (users.length === 0) throw notificationsError('notifications/no-recipients');
  if (users.length > max) throw notificationsError('notifications/too-many-recipients', `at most ${max} users per send`);
  return users;
}

/** Title and body per user: the template rendered once per locale among the recipients. */
async function renderPerUser(db: Db, email: EmailApi | undefined, input: SendInput, users: string[]): Promise<{ titles: string[]; bodies: (string | null)[] } | null> {
  if (input.template == null) return null;
  if (!email) throw notificationsError('notifications/template-failed', 'templates need the email plugin');
  const r = await db.query<{ user_id: string; locale: string | null }>('select user_id, locale from notifications.user_setting where user_id = any($1::text[])', [users]);
  const localeOf = new Map(r.rows.map((x) => [x.user_id, x.locale]));
  const rendered = new Map<string, { title: string; body: string | null }>();
  for (const locale of new Set(users.map((u) => localeOf.get(u) ?? ''))) {
    try {
      const p = await email.preview({ template: input.template, locale: locale || null, data: input.data ?? {} });
      rendered.set(locale, { title: p.subject.slice(0, 500), body: p.text ? p.text.slice(0, 10_000) : null });
    } catch (e) {
      if (e instanceof ActionError) throw notificationsError('notifications/template-failed', e.message, { cause: e.extensions.code });
      throw e;
    }
  }
  const per = users.map((u) => rendered.get(localeOf.get(u) ?? '')!);
  return { titles: per.map((x) => x.title), bodies: per.map((x) => x.body) };
}

const hashOf = (input: SendInput) => {
  const { idempotencyKey: _k, ...rest } = input;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
};

export async function sendNotifications(
  deps: { db: Db; config: Readonly<NotificationsConfig>; email: EmailApi | undefined },
  input: SendInput,
  createdBy: string | null,
): Promise<SendResult> {
  const { db, config } = deps;
  const category = await categoryOf(db, input.category);
  const hash = hashOf(input);
  const prior = async (): Promise<SendResult | null> => {
    if (input.idempotencyKey == null) return null;
    const r = await db.query<{ id: string; recipients: number; request_hash: string }>(
      'select id, recipients, request_hash from notifications.send where idempotency_key = $1',
      [input.idempotencyKey],
    );
    const row = r.rows[0];
    if (!row) return null;
    if (row.request_hash !== hash) throw notificationsError('notifications/idempotency-conflict');
    return { sendId: row.id, notificationCount: row.recipients, duplicate: true };
  };
  const first = await prior();
  if (first) return first;

  const users = await recipients(db, input, config.NOTIFICATIONS_MAX_RECIPIENTS);
  const perUser = await renderPerUser(db, deps.email, input, users);
  // Three levels, as for every channel (see plan.ts): the category's default, then the user's setting for all
  // categories, then for this one; the sender's channel list narrows them, and critical sends skip the user's.
  const critical = input.priority === 'critical' || category.critical;
  const categoryDefault = category.default_channels.includes('in_app');
  const explicit = input.inApp != null || input.channels != null;
  const requested = input.inApp ?? (input.channels != null ? input.channels.includes('in_app') : true);
  const forced = explicit ? true : categoryDefault;

  const result = await db.tx(async (tx) => {
    const s = await tx.query<{ id: string }>(
      `insert into notifications.send (idempotency_key, request_hash, category, topic, recipients, created_by)
       values ($1, $2, $3, $4, $5, $6) on conflict (idempotency_key) do nothing returning id`,
      [input.idempotencyKey ?? null, hash, category.key, input.topic ?? null, users.length, createdBy],
    );
    if (!s.rows[0]) return null; // a concurrent send with the same key won
    const sendId = s.rows[0].id;
    const n = await tx.query(
      `insert into notifications.notification
         (user_id, category, title, body, data, action_url, group_key, priority, actor_id, channels, in_app, send_id, topic)
       select u.user_id, $4, coalesce(u.title, $5), coalesce(u.body, $6), $7::jsonb, $8, $9, $10, $11, $12::text[],
              $13::boolean and case when $14::boolean then $15::boolean else coalesce(p.enabled, g.enabled, $16::boolean) end,
              $17, $18
         from unnest($1::text[], $2::text[], $3::text[]) as u(user_id, title, body)
         left join notifications.preference p on p.user_id = u.user_id and p.category = $4 and p.channel = 'in_app'
         left join notifications.preference g on g.user_id = u.user_id and g.category = '*' and g.channel = 'in_app'`,
      [
        users, perUser?.titles ?? [], perUser?.bodies ?? [], category.key, input.title ?? null, input.body ?? null,
        JSON.stringify(input.data ?? {}), input.actionUrl ?? null, input.groupKey ?? null, input.priority ?? 'normal',
        input.actorId ?? null, input.channels ?? null, requested, critical, forced, categoryDefault, sendId, input.topic ?? null,
      ],
    );
    return { sendId, notificationCount: n.rowCount ?? 0, duplicate: false };
  });
  return result ?? (await prior())!;
}
