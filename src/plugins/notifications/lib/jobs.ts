/**
 * The delivery jobs, one per channel (own queues, so a slow SMS provider never holds up pushes). Each claims
 * its delivery row first (`pending`/`deferred` → `sending`), so a job run twice (redelivered event, recovered
 * worker) sends nothing twice:
 * - push: every push subscription of the user; a device that succeeded is remembered in the row's `detail`, so
 *   a retry after a 500 goes only to the devices that failed; 404/410 (or FCM UNREGISTERED, APNs
 *   Unregistered/BadDeviceToken) removes the subscription;
 * - email: through the email plugin with the delivery id as idempotency key (one email, however often it runs);
 * - sms: the text recorded in notifications.sms_message first, then sent;
 * - push-group: one summary push for the notifications of a group key that arrived within the window.
 */
import { z } from 'zod';
import { UnrecoverableError } from 'bullmq';
import Handlebars from 'handlebars';
import { ActionError } from '../../../core/errors.js';
import type { Db, Queryable } from '../../../core/plugin.js';
import { defineJob, type EnqueueTarget, type JobContext } from '../../jobs/index.js';
import { emailService } from '../../email/index.js';
import type { NotificationsConfig } from '../config.js';
import { pushService, type PushSenders } from './push/service.js';
import type { PushMessage, PushTarget } from './push/types.js';
import { smsService } from './sms/service.js';
import type { Priority } from './input.js';

const deliveryData = z.object({ deliveryId: z.string().uuid() });
const TTL_SECONDS = 4 * 7 * 86_400;

interface Claimed {
  id: string;
  user_id: string;
  status: string;
  detail: { done?: Record<string, string | null> };
  notification_id: string;
  title: string;
  body: string | null;
  data: Record<string, unknown>;
  action_url: string | null;
  group_key: string | null;
  priority: Priority;
  category: string;
  read_at: Date | null;
  archived_at: Date | null;
  critical: boolean;
  email_template: string | null;
  email: string | null;
  phone: string | null;
  locale: string | null;
}

/** Claims a delivery for this attempt; null when it is not waiting (already sent, skipped, gone). */
async function claim(db: Queryable, deliveryId: string): Promise<Claimed | null> {
  const r = await db.query<Claimed>(
    `with d as (
       update notifications.delivery set status = 'sending', attempts = attempts + 1, updated_at = now()
        where id = $1 and status in ('pending', 'deferred', 'sending')
        returning id, user_id, status, detail, notification_id)
     select d.*, n.title, n.body, n.data, n.action_url, n.group_key, n.priority, n.category, n.read_at, n.archived_at,
            c.critical, c.email_template, s.email, s.phone, s.locale
       from d join notifications.notification n on n.id = d.notification_id
       join notifications.category c on c.key = n.category
       left join notifications.user_setting s on s.user_id = d.user_id`,
    [deliveryId],
  );
  return r.rows[0] ?? null;
}

async function finish(db: Queryable, id: string, status: 'sent' | 'failed' | 'skipped' | 'pending', fields: { reason?: string | null; error?: string | null; ref?: string | null; detail?: unknown } = {}) {
  await db.query(
    `update notifications.delivery set status = $2, reason = coalesce($3, reason), error = $4, provider_ref = coalesce($5, provider_ref),
            detail = coalesce($6::jsonb, detail), sent_at = case when $2 = 'sent' then now() else sent_at end, updated_at = now()
      where id = $1`,
    [id, status, fields.reason ?? null, fields.error ?? null, fields.ref ?? null, fields.detail === undefined ? null : JSON.stringify(fields.detail)],
  );
}

const isFinalAttempt = (ctx: JobContext) => ctx.job.attempt >= ctx.job.maxAttempts;

/* ------------------------------------------------------------------ push */

export interface FanoutResult {
  done: Record<string, string | null>;
  retryable: string[];
  failed: string[];
  removed: number;
  devices: number;
}

/** Sends `message` to each of the user's push subscriptions not in `done`. */
export async function pushToUser(db: Queryable, senders: PushSenders, userId: string, message: PushMessage, done: Record<string, string | null>, signal?: AbortSignal): Promise<FanoutResult> {
  const subs = await db.query<PushTarget>(
    `select id, kind, endpoint, p256dh, auth, token from notifications.push_subscription where user_id = $1 and kind = any($2::text[])`,
    [userId, senders.kinds],
  );
  const out: FanoutResult = { done: { ...done }, retryable: [], failed: [], removed: 0, devices: subs.rows.length };
  await Promise.all(
    subs.rows
      .filter((t) => !(t.id in out.done))
      .map(async (t) => {
        const res = await senders.sender(t.kind)!.send(t, message, signal);
        if (res.ok) {
          out.done[t.id] = res.ref;
          await db.query('update notifications.push_subscription set last_used_at = now(), last_success_at = now(), failures = 0, last_error = null where id = $1', [t.id]);
        } else if (res.gone) {
          out.removed++;
          await db.query('delete from notifications.push_subscription where id = $1', [t.id]);
        } else {
          (res.retryable ? out.retryable : out.failed).push(res.error);
          await db.query('update notifications.push_subscription set last_used_at = now(), failures = failures + 1, last_error = $2 where id = $1', [t.id, res.error.slice(0, 500)]);
        }
      }),
  );
  return out;
}

const messageOf = (d: Pick<Claimed, 'notification_id' | 'title' | 'body' | 'data' | 'action_url' | 'category' | 'group_key' | 'priority'>): PushMessage => ({
  notificationId: d.notification_id,
  title: d.title,
  body: d.body,
  data: d.data,
  actionUrl: d.action_url,
  category: d.category,
  tag: d.group_key ?? d.notification_id,
  priority: d.priority,
  ttlSeconds: TTL_SECONDS,
});

export const pushJob = defineJob({
  name: 'notifications.push',
  queue: 'notifications.push',
  feature: 'push',
  data: deliveryData,
  concurrency: 50,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 60_000,
  description: 'Sends one notification to every push subscription of its user',
  async handler({ deliveryId }, ctx) {
    const d = await claim(ctx.db, deliveryId);
    if (!d) return { skipped: 'not waiting' };
    if (d.read_at || d.archived_at) {
      await finish(ctx.db, d.id, 'skipped', { reason: 'read before it was pushed' });
      return { skipped: 'read' };
    }
    const r = await pushToUser(ctx.db, ctx.service(pushService), d.user_id, messageOf(d), d.detail.done ?? {}, ctx.signal);
    const sent = Object.keys(r.done).length;
    const detail = { done: r.done, removed: r.removed, errors: [...r.retryable, ...r.failed].slice(0, 10) };
    if (r.retryable.length && !isFinalAttempt(ctx)) {
      await finish(ctx.db, d.id, 'pending', { error: r.retryable[0]!, detail });
      throw new Error(`push: ${r.retryable.length} device(s) to retry: ${r.retryable[0]}`);
    }
    if (sent > 0) await finish(ctx.db, d.id, 'sent', { ref: `${sent} device(s)`, detail, error: r.failed[0] ?? r.retryable[0] ?? null });
    else if (r.devices === 0 || r.removed === r.devices) await finish(ctx.db, d.id, 'skipped', { reason: r.removed ? 'every push subscription is gone' : 'no push subscription', detail });
    else await finish(ctx.db, d.id, 'failed', { error: [...r.failed, ...r.retryable][0] ?? 'no device took it', detail });
    return { devices: sent, removed: r.removed };
  },
});

/* ------------------------------------------------------------------ grouping */

const groupData = z.object({ userId: z.string().min(1), groupKey: z.string().min(1) });
const summaries = Handlebars.create();

export const pushGroupJob = defineJob({
  name: 'notifications.push-group',
  queue: 'notifications.push',
  feature: 'push',
  data: groupData,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 60_000,
  description: 'Sends one summary push for the notifications of a group key that arrived within its window',
  async handler({ userId, groupKey }, ctx) {
    const r = await ctx.db.query<Claimed & { group_summary: string }>(
      `update notifications.delivery d set status = 'sending', attempts = attempts + 1, updated_at = now()
         from notifications.notification n join notifications.category c on c.key = n.category
        where d.notification_id = n.id and d.user_id = $1 and n.group_key = $2 and d.channel = 'push' and d.status in ('grouped', 'sending')
          and d.provider_ref is null and (d.scheduled_for is null or d.scheduled_for <= now())
       returning d.id, d.user_id, d.status, d.detail, d.notification_id, n.title, n.body, n.data, n.action_url, n.group_key, n.priority,
                 n.category, n.read_at, n.archived_at, c.critical, c.group_summary`,
      [userId, groupKey],
    );
    const rows = r.rows.filter((x) => !x.read_at && !x.archived_at);
    const read = r.rows.filter((x) => x.read_at || x.archived_at).map((x) => x.id);
    if (read.length) await ctx.db.query(`update notifications.delivery set status = 'skipped', reason = 'read before the summary' where id = any($1::uuid[])`, [read]);
    if (!rows.length) return { skipped: 'nothing grouped' };
    rows.sort((a, b) => a.notification_id.localeCompare(b.notification_id));
    const latest = rows[rows.length - 1]!;
    // The first notification of the group went out on its own; the summary counts it too.
    const count = rows.length + 1;
    let title: string;
    try {
      title = summaries.compile(latest.group_summary, { noEscape: true })({ count, title: latest.title, body: latest.body, data: latest.data }).slice(0, 500);
    } catch {
      title = `${count} new notifications`;
    }
    const message = { ...messageOf(latest), title, body: latest.title };
    const res = await pushToUser(ctx.db, ctx.service(pushService), userId, message, {}, ctx.signal);
    const ids = rows.map((x) => x.id);
    if (res.retryable.length && !Object.keys(res.done).length && !isFinalAttempt(ctx)) {
      await ctx.db.query(`update notifications.delivery set status = 'grouped', error = $2 where id = any($1::uuid[])`, [ids, res.retryable[0]]);
      throw new Error(`push group: ${res.retryable[0]}`);
    }
    const ok = Object.keys(res.done).length > 0;
    await ctx.db.query(
      `update notifications.delivery set status = $2, provider_ref = $3, sent_at = case when $2 = 'sent' then now() end, error = $4, updated_at = now()
        where id = any($1::uuid[])`,
      [ids, ok ? 'sent' : 'failed', `group:${ctx.job.id}`, ok ? null : ([...res.failed, ...res.retryable][0] ?? 'no device')],
    );
    return { count, devices: Object.keys(res.done).length };
  },
});

/* ------------------------------------------------------------------ email */

export const emailJob = defineJob({
  name: 'notifications.email',
  queue: 'notifications.email',
  feature: 'email',
  data: deliveryData,
  concurrency: 20,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 1000 },
  timeout: 60_000,
  description: 'Queues the email of one notification through the email plugin (idempotent by delivery id)',
  async handler({ deliveryId }, ctx) {
    const d = await claim(ctx.db, deliveryId);
    if (!d) return { skipped: 'not waiting' };
    if (!d.email) {
      await finish(ctx.db, d.id, 'skipped', { reason: 'no email address' });
      return { skipped: 'no address' };
    }
    try {
      const r = await ctx.service(emailService).send({
        to: [d.email],
        template: d.email_template ?? 'notifications.notification',
        locale: d.locale,
        data: { title: d.title, body: d.body, actionUrl: d.action_url, category: d.category, data: d.data },
        idempotencyKey: `notifications-delivery-${d.id}`,
        category: `notifications.${d.category}`,
        transactional: d.critical || d.priority === 'critical',
        metadata: { notificationId: d.notification_id, deliveryId: d.id },
      });
      if (r.status === 'suppressed') await finish(ctx.db, d.id, 'skipped', { reason: 'the address is on the suppression list', ref: r.id });
      else await finish(ctx.db, d.id, 'sent', { ref: r.id });
      return { messageId: r.id };
    } catch (e) {
      // A refused request (template or address) cannot get better by retrying.
      if (e instanceof ActionError) {
        await finish(ctx.db, d.id, 'failed', { error: `${e.code}: ${e.message}`.slice(0, 1000) });
        throw new UnrecoverableError(e.message);
      }
      await finish(ctx.db, d.id, isFinalAttempt(ctx) ? 'failed' : 'pending', { error: (e as Error).message.slice(0, 1000) });
      throw e;
    }
  },
});

/* ------------------------------------------------------------------ sms */

export const smsJob = defineJob({
  name: 'notifications.sms',
  queue: 'notifications.sms',
  feature: 'sms',
  data: deliveryData,
  concurrency: 10,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeout: 60_000,
  description: 'Sends the SMS of one notification (outbox or Twilio)',
  async handler({ deliveryId }, ctx) {
    const d = await claim(ctx.db, deliveryId);
    if (!d) return { skipped: 'not waiting' };
    if (!d.phone) {
      await finish(ctx.db, d.id, 'skipped', { reason: 'no phone number' });
      return { skipped: 'no phone' };
    }
    const sms = ctx.service(smsService);
    const text = (d.body ? `${d.title}: ${d.body}` : d.title).slice(0, 1600);
    await ctx.db.query(
      `insert into notifications.sms_message (delivery_id, to_number, body, transport) values ($1, $2, $3, $4) on conflict (delivery_id) do nothing`,
      [d.id, d.phone, text, sms.transport],
    );
    const m = (await ctx.db.query<{ id: string; status: string; provider_ref: string | null }>(
      `update notifications.sms_message set attempts = attempts + 1 where delivery_id = $1 returning id, status, provider_ref`,
      [d.id],
    )).rows[0]!;
    if (m.status === 'sent') {
      await finish(ctx.db, d.id, 'sent', { ref: m.provider_ref ?? m.id });
      return { smsId: m.id };
    }
    const res = await sms.send(d.phone, text, ctx.signal);
    if (res.ok) {
      await ctx.db.query(`update notifications.sms_message set status = 'sent', provider_ref = $2, sent_at = now(), last_error = null where id = $1`, [m.id, res.ref ?? null]);
      await finish(ctx.db, d.id, 'sent', { ref: res.ref ?? m.id });
      return { smsId: m.id };
    }
    const final = !res.retryable || isFinalAttempt(ctx);
    await ctx.db.query(`update notifications.sms_message set status = $2, last_error = $3 where id = $1`, [m.id, final ? 'failed' : 'sending', res.error ?? null]);
    await finish(ctx.db, d.id, final ? 'failed' : 'pending', { error: res.error ?? 'sms failed' });
    if (final) throw new UnrecoverableError(res.error ?? 'sms failed');
    throw new Error(res.error ?? 'sms failed');
  },
});

/* ------------------------------------------------------------------ enqueueing */

export interface EnqueueDeps extends EnqueueTarget {
  config: Readonly<NotificationsConfig>;
}

/** Job ids from delivery ids (and group windows): enqueueing a delivery again adds nothing. */
export async function enqueueDeliveries(
  deps: EnqueueDeps,
  deliveries: ReadonlyArray<{ id: string; channel: 'push' | 'email' | 'sms'; status: string; scheduled_for: Date | null }>,
  group: { userId: string; groupKey: string | null; windowSeconds: number; createdAt: Date } | null,
): Promise<void> {
  const opts = (id: string, runAt: Date | null) => ({
    jobId: id,
    attempts: deps.config.NOTIFICATIONS_DELIVERY_ATTEMPTS,
    backoffMs: deps.config.NOTIFICATIONS_DELIVERY_BACKOFF_MS,
    ...(runAt && runAt.getTime() > Date.now() ? { runAt } : {}),
  });
  for (const d of deliveries) {
    if (d.status === 'grouped') {
      if (!group?.groupKey) continue;
      // One summary per user, group key and window: the window the notification fell into ends the wait.
      const windowMs = Math.max(1, group.windowSeconds) * 1000;
      const bucket = Math.floor(group.createdAt.getTime() / windowMs);
      const end = new Date((bucket + 1) * windowMs);
      const runAt = d.scheduled_for && d.scheduled_for > end ? d.scheduled_for : end;
      const key = Buffer.from(`${group.userId}\u0000${group.groupKey}`).toString('base64url').slice(0, 200);
      // Planned after its window closed (a late event): that window's summary may have gone already, and its job
      // id would now add nothing, so a job of its own sums up what is still grouped.
      const late = end.getTime() <= Date.now() ? `-late${Math.floor(Date.now() / windowMs)}` : '';
      await pushGroupJob.enqueue(deps, { userId: group.userId, groupKey: group.groupKey }, opts(`g-${key}-${bucket}${late}`, runAt));
      continue;
    }
    const job = d.channel === 'push' ? pushJob : d.channel === 'email' ? emailJob : smsJob;
    await job.enqueue(deps, { deliveryId: d.id }, opts(`${d.channel}-${d.id}`, d.scheduled_for));
  }
}

export type { Db };
