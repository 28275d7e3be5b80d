/**
 * Push end to end: notificationsSend → the notification's INSERT fires the Hasura event trigger → planning →
 * push jobs → Web Push to a local HTTPS endpoint that verifies the VAPID token and decrypts the payload, FCM
 * HTTP v1 and APNs against strict fakes. Failures: 500s retried with backoff, 410/UNREGISTERED removing the
 * subscription, a redelivered event sending nothing twice, quiet hours deferring (not dropping), grouping.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { errorCode, startStack, waitFor, type Stack } from '../../email/__tests__/support/stack.js';
import { ApnsFake } from './support/apns-fake.js';
import { FcmFake } from './support/fcm-fake.js';
import { selfSigned } from './support/tls.js';
import { WebPushReceiver, type TestSubscription } from './support/webpush-receiver.js';

const service = { role: 'service' };
const as = (userId: string) => ({ role: 'user', userId });
const SEND = `mutation ($userIds: [String!], $category: String!, $title: String, $body: String, $groupKey: String, $priority: NotificationsPriority, $data: jsonb) {
  notificationsSend(userIds: $userIds, category: $category, title: $title, body: $body, groupKey: $groupKey, priority: $priority, data: $data) { sendId notificationCount } }`;
const REGISTER = `mutation ($webPush: NotificationsWebPushSubscriptionInput, $fcmToken: String, $apnsToken: String) {
  notificationsRegisterPushSubscription(webPush: $webPush, fcmToken: $fcmToken, apnsToken: $apnsToken) { id } }`;

let s: Stack;
let receiver: WebPushReceiver;
const fcm = new FcmFake();
let apns: ApnsFake;

const user = () => `u-${randomBytes(4).toString('hex')}`;
async function register(userId: string, vars: Record<string, unknown>): Promise<string> {
  const r = await s.harness.graphql<{ notificationsRegisterPushSubscription: { id: string } }>(REGISTER, vars, as(userId));
  expect(r.errors).toBeUndefined();
  return r.data!.notificationsRegisterPushSubscription.id;
}
async function webPushUser(): Promise<{ userId: string; sub: TestSubscription; id: string }> {
  const userId = user();
  const sub = receiver.subscribe();
  const id = await register(userId, { webPush: { endpoint: sub.endpoint, keys: sub.keys } });
  return { userId, sub, id };
}
async function send(userId: string, extra: Record<string, unknown> = {}) {
  const r = await s.harness.graphql(SEND, { userIds: [userId], category: 'general', title: 'New message', body: 'Hi there', ...extra }, service);
  expect(r.errors).toBeUndefined();
  await s.harness.drain({ timeoutMs: 20_000 });
}
const delivery = async (userId: string) => (await s.pool.query(`select * from notifications.delivery where user_id = $1 and channel = 'push' order by created_at`, [userId])).rows;

beforeAll(async () => {
  const tls = await selfSigned();
  receiver = new WebPushReceiver(tls);
  await receiver.start();
  await fcm.start();
  apns = new ApnsFake(tls);
  await apns.start();
  s = await startStack('notif_push', {
    NOTIFICATIONS_PUSH_CA_FILE: tls.caFile,
    NOTIFICATIONS_WEBPUSH_ENDPOINT_HOSTS: '127.0.0.1',
    NOTIFICATIONS_DELIVERY_BACKOFF_MS: '100',
    NOTIFICATIONS_FCM_SERVICE_ACCOUNT: fcm.serviceAccount(),
    NOTIFICATIONS_FCM_API_URL: fcm.url,
    NOTIFICATIONS_APNS_KEY: apns.privateKeyPem(),
    NOTIFICATIONS_APNS_KEY_ID: apns.keyId,
    NOTIFICATIONS_APNS_TEAM_ID: apns.teamId,
    NOTIFICATIONS_APNS_TOPIC: apns.topic,
    NOTIFICATIONS_APNS_URL: apns.url,
  });
  const key = await s.harness.graphql<{ notificationsVapidPublicKey: { publicKey: string } }>('query { notificationsVapidPublicKey { publicKey } }', {}, as('anyone'));
  receiver.vapidPublicKey = key.data!.notificationsVapidPublicKey.publicKey;
});
afterAll(async () => {
  await s?.close();
  await receiver?.stop();
  await fcm.stop();
  await apns?.stop();
});

describe('Web Push', () => {
  it('keeps one VAPID key pair, generated on first start', async () => {
    const rows = (await s.pool.query('select public_key from notifications.vapid_key')).rows;
    expect(rows).toEqual([{ public_key: receiver.vapidPublicKey }]);
    expect(receiver.vapidPublicKey).toMatch(/^[A-Za-z0-9_-]{87}$/);
  });

  it('pushes an encrypted payload with a valid VAPID token; a redelivered event pushes nothing more', async () => {
    const { userId, sub } = await webPushUser();
    await send(userId, { data: { roomId: 'r1' } });
    await waitFor(() => receiver.for(sub.id).length === 1, 20_000, 'push received');
    const [got] = receiver.for(sub.id);
    expect(got!.payload).toMatchObject({ title: 'New message', body: 'Hi there', category: 'general', data: { roomId: 'r1' } });
    expect(got!.claims.sub).toBe('mailto:no-reply@localhost');
    await waitFor(async () => (await delivery(userId))[0]?.status === 'sent', 20_000, 'delivery sent');

    const [event] = (await s.harness.eventLog('notifications_notification_created')).filter((e) => (e.payload as any).data.new.user_id === userId);
    await s.harness.redeliverEvent(event!.id);
    await s.harness.drain({ timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.for(sub.id)).toHaveLength(1);
    expect(await delivery(userId)).toHaveLength(1);
    expect(await s.harness.invocations(event!.id)).toHaveLength(2);
  });

  it('retries a push service answering 500 with backoff, then delivers once', async () => {
    const { userId, sub } = await webPushUser();
    receiver.script.set(sub.id, [500, 500]);
    await send(userId);
    await waitFor(async () => (await delivery(userId))[0]?.status === 'sent', 30_000, 'sent after retries');
    expect(receiver.for(sub.id)).toHaveLength(1);
    expect(receiver.rejected.filter((r) => r.subscription === sub.id).map((r) => r.status)).toEqual([500, 500]);
    expect((await delivery(userId))[0].attempts).toBe(3);
  });

  it('removes a subscription the push service answers 410 for', async () => {
    const { userId, sub, id } = await webPushUser();
    receiver.answer.set(sub.id, 410);
    await send(userId);
    await waitFor(async () => (await delivery(userId))[0]?.status === 'skipped', 20_000, 'skipped');
    expect((await delivery(userId))[0].reason).toBe('every push subscription is gone');
    expect((await s.pool.query('select count(*)::int as n from notifications.push_subscription where id = $1', [id])).rows[0].n).toBe(0);
  });

  it.each([
    ['an http endpoint', { endpoint: 'http://127.0.0.1/push/x' }, 'notifications/invalid-subscription'],
    ['an endpoint on a host that is no push service', { endpoint: 'https://169.254.169.254/latest/meta-data' }, 'notifications/invalid-subscription'],
    ['a short p256dh key', { keys: { p256dh: Buffer.alloc(33, 4).toString('base64url') } }, 'notifications/invalid-subscription'],
    ['an auth secret of the wrong size', { keys: { auth: Buffer.alloc(8).toString('base64url') } }, 'notifications/invalid-subscription'],
    ['a p256dh that is not base64url', { keys: { p256dh: '!!!' } }, 'notifications/invalid-subscription'],
  ])('refuses a malformed Web Push subscription: %s', async (_what, change, code) => {
    const sub = receiver.subscribe();
    const webPush = { endpoint: (change as any).endpoint ?? sub.endpoint, keys: { ...sub.keys, ...((change as any).keys ?? {}) } };
    const userId = user();
    const r = await s.harness.graphql(REGISTER, { webPush }, as(userId));
    expect(errorCode(r)).toBe(code);
    expect((await s.pool.query('select count(*)::int as n from notifications.push_subscription where user_id = $1', [userId])).rows[0].n).toBe(0);
  });

  it('refuses two kinds at once, none, and a user session without a user id', async () => {
    expect(errorCode(await s.harness.graphql(REGISTER, { fcmToken: 'a'.repeat(40), apnsToken: 'ab'.repeat(32) }, as(user())))).toBe('notifications/invalid-input');
    expect(errorCode(await s.harness.graphql(REGISTER, {}, as(user())))).toBe('notifications/invalid-input');
    expect(errorCode(await s.harness.graphql(REGISTER, { fcmToken: 'a'.repeat(40) }, { role: 'user' }))).toBe('notifications/no-user');
  });

  it('moves an endpoint to the user who registers it last, and unregisters only one\'s own', async () => {
    const a = user();
    const b = user();
    const sub = receiver.subscribe();
    const id1 = await register(a, { webPush: { endpoint: sub.endpoint, keys: sub.keys } });
    const id2 = await register(b, { webPush: { endpoint: sub.endpoint, keys: sub.keys } });
    expect(id2).toBe(id1);
    const owner = (await s.pool.query('select user_id from notifications.push_subscription where id = $1', [id1])).rows[0].user_id;
    expect(owner).toBe(b);
    const UNREG = 'mutation ($id: uuid) { notificationsUnregisterPushSubscription(id: $id) { removed } }';
    expect((await s.harness.graphql<any>(UNREG, { id: id1 }, as(a))).data.notificationsUnregisterPushSubscription.removed).toBe(0);
    expect((await s.harness.graphql<any>(UNREG, { id: id1 }, as(b))).data.notificationsUnregisterPushSubscription.removed).toBe(1);
    const mine = await s.harness.select('user', { userId: b }, { schema: 'notifications', name: 'push_subscription' });
    expect(mine).toEqual([]);
  });
});

describe('FCM and APNs', () => {
  it('sends through FCM HTTP v1 with one cached access token, and drops UNREGISTERED tokens', async () => {
    const userId = user();
    const good = `fcm-${randomBytes(20).toString('hex')}`;
    const stale = `fcm-${randomBytes(20).toString('hex')}`;
    fcm.tokens.add(good);
    await register(userId, { fcmToken: good });
    const staleId = await register(userId, { fcmToken: stale });
    const before = fcm.tokenRequests;
    await send(userId, { title: 'One' });
    await send(userId, { title: 'Two' });
    await waitFor(() => fcm.delivered.filter((d) => d.token === good).length === 2, 20_000, 'two FCM messages');
    const msg = fcm.delivered.find((d) => d.token === good)!.message;
    expect(msg.notification.title).toMatch(/One|Two/);
    expect(Object.values(msg.data).every((v) => typeof v === 'string')).toBe(true);
    expect(fcm.tokenRequests - before).toBeLessThanOrEqual(1);
    await waitFor(async () => (await s.pool.query('select count(*)::int as n from notifications.push_subscription where id = $1', [staleId])).rows[0].n === 0, 20_000, 'stale token removed');
  });

  it('retries FCM answering 503 and delivers once', async () => {
    const userId = user();
    const token = `fcm-${randomBytes(20).toString('hex')}`;
    fcm.tokens.add(token);
    fcm.answer.set(token, 503);
    await register(userId, { fcmToken: token });
    await send(userId);
    await waitFor(async () => (await delivery(userId))[0]?.attempts >= 2, 20_000, 'a failed attempt');
    fcm.answer.delete(token);
    await waitFor(async () => (await delivery(userId))[0]?.status === 'sent', 30_000, 'sent');
    expect(fcm.delivered.filter((d) => d.token === token)).toHaveLength(1);
  });

  it('sends through APNs over HTTP/2 with a provider token, and drops a token answered 410', async () => {
    const userId = user();
    const device = randomBytes(32).toString('hex');
    const gone = randomBytes(32).toString('hex');
    apns.devices.add(device);
    apns.gone.add(gone);
    await register(userId, { apnsToken: device });
    const goneId = await register(userId, { apnsToken: gone.toUpperCase() });
    await send(userId, { groupKey: 'room:1' });
    await waitFor(() => apns.delivered.some((d) => d.token === device), 20_000, 'APNs delivery');
    const d = apns.delivered.find((x) => x.token === device)!;
    expect(d.payload.aps.alert).toEqual({ title: 'New message', body: 'Hi there' });
    expect(d.headers['apns-collapse-id']).toBe('room:1');
    expect(d.headers['apns-push-type']).toBe('alert');
    await waitFor(async () => (await s.pool.query('select count(*)::int as n from notifications.push_subscription where id = $1', [goneId])).rows[0].n === 0, 20_000, 'gone token removed');
  });
});

describe('quiet hours and grouping', () => {
  it('defers a push until quiet hours end (not dropped); a critical one goes at once', async () => {
    const { userId, sub } = await webPushUser();
    const now = new Date();
    const hh = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const r = await s.harness.graphql(
      'mutation ($q: NotificationsQuietHoursInput) { notificationsUpdatePreferences(timeZone: "UTC", quietHours: $q) { quietHours { start end } } }',
      { q: { start: hh(new Date(now.getTime() - 3600_000)), end: hh(new Date(now.getTime() + 3600_000)) } },
      as(userId),
    );
    expect(r.errors).toBeUndefined();
    await send(userId, { title: 'Later' });
    const [d] = await delivery(userId);
    expect(d.status).toBe('deferred');
    expect(d.reason).toBe('quiet hours');
    const until = new Date(d.scheduled_for).getTime();
    expect(until - now.getTime()).toBeGreaterThan(3500_000);
    expect(until - now.getTime()).toBeLessThan(3700_000);
    const job = await s.runtime.queue.queue('notifications.push').getJob(`push-${d.id}`);
    expect(await job!.getState()).toBe('delayed');

    await send(userId, { title: 'Your password changed', priority: 'critical' });
    await waitFor(() => receiver.for(sub.id).some((p) => p.payload.title === 'Your password changed'), 20_000, 'critical push');
    expect(receiver.for(sub.id).some((p) => p.payload.title === 'Later')).toBe(false);

    await job!.promote(); // quiet hours over: the deferred push goes
    await waitFor(() => receiver.for(sub.id).some((p) => p.payload.title === 'Later'), 20_000, 'deferred push');
  });

  it('pushes the first of a group at once and sums up the rest of the window in one push', async () => {
    await s.pool.query(
      `insert into notifications.category (key, default_channels, group_summary, group_window_seconds)
       values ('message', '{in_app,push}', '{{count}} new messages in {{data.channel}}', 2) on conflict do nothing`,
    );
    const { userId, sub } = await webPushUser();
    const one = { category: 'message', groupKey: 'room:general', data: { channel: '#general' } };
    await send(userId, { ...one, title: 'Ann: hi' });
    await waitFor(() => receiver.for(sub.id).length === 1, 20_000, 'first push');
    await send(userId, { ...one, title: 'Bob: hello' });
    await send(userId, { ...one, title: 'Cy: hey' });
    const statuses = (await delivery(userId)).map((d) => d.status).sort();
    expect(statuses.filter((x) => x === 'grouped')).toHaveLength(2);
    await waitFor(() => receiver.for(sub.id).length === 2, 20_000, 'summary push');
    const summary = receiver.for(sub.id)[1]!.payload;
    expect(summary.title).toBe('3 new messages in #general');
    expect(summary.tag).toBe('room:general');
    await waitFor(async () => (await delivery(userId)).every((d) => d.status === 'sent'), 20_000, 'all sent');
  });
});
