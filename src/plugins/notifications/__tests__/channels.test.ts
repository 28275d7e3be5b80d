/**
 * Email and SMS deliveries and the digest cron, end to end through Hasura: a notification's email goes through
 * the email plugin once however often the event is delivered, SMS land in the outbox (and Twilio's REST API
 * against a strict fake), and digests collect the unread notifications of a period into one email per user at
 * the user's local digest hour, each notification in at most one digest.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startStack, waitFor, type Stack } from '../../email/__tests__/support/stack.js';
import { notificationsConfig } from '../config.js';
import { twilioSender } from '../lib/sms/service.js';
import { TwilioFake } from './support/twilio-fake.js';

const service = { role: 'service' };
const as = (userId: string) => ({ role: 'user', userId });
const user = () => `u-${randomBytes(4).toString('hex')}`;
const SEND = `mutation ($userIds: [String!], $category: String!, $title: String, $body: String, $priority: NotificationsPriority, $channels: [NotificationsChannel!]) {
  notificationsSend(userIds: $userIds, category: $category, title: $title, body: $body, priority: $priority, channels: $channels) { sendId } }`;

let s: Stack;

async function contact(userId: string, fields: string) {
  const r = await s.harness.graphql(`mutation ($u: String!) { notificationsSetContact(userId: $u, ${fields}) { userId } }`, { u: userId }, service);
  expect(r.errors).toBeUndefined();
}
async function send(vars: Record<string, unknown>) {
  const r = await s.harness.graphql(SEND, { category: 'billing', title: 'Invoice ready', body: 'Your invoice <b>#42</b> is ready', ...vars }, service);
  expect(r.errors).toBeUndefined();
  await s.harness.drain({ timeoutMs: 20_000 });
}
const deliveries = async (userId: string, channel: string) =>
  (await s.pool.query(`select d.*, n.title from notifications.delivery d join notifications.notification n on n.id = d.notification_id
     where d.user_id = $1 and d.channel = $2 order by n.created_at`, [userId, channel])).rows;
const mails = async (to: string) => (await s.pool.query(`select * from email.message where $1 = any(to_addresses) order by created_at`, [to])).rows;

beforeAll(async () => {
  s = await startStack('notif_channels', { NOTIFICATIONS_DELIVERY_BACKOFF_MS: '100' });
  await s.pool.query(`insert into notifications.category (key, description, default_channels) values
    ('billing', 'Invoices', '{in_app,email}'), ('alerts', 'Alerts by text', '{in_app,sms}')`);
});
afterAll(async () => {
  await s?.close();
});

describe('email', () => {
  it('sends one templated, escaped email per notification, however often the event is delivered', async () => {
    const a = user();
    await contact(a, 'email: "ann@example.com"');
    await send({ userIds: [a] });
    await waitFor(async () => (await deliveries(a, 'email'))[0]?.status === 'sent', 20_000, 'email delivery');
    const [m] = await mails('ann@example.com');
    expect(m).toMatchObject({ subject: 'Invoice ready', template_key: 'notifications.notification', category: 'notifications.billing', transactional: false });
    expect(m.html).toContain('Your invoice &lt;b&gt;#42&lt;/b&gt; is ready');
    expect(m.headers['List-Unsubscribe']).toMatch(/\/hooks\/email\/unsubscribe\?t=/);
    expect((await deliveries(a, 'email'))[0].provider_ref).toBe(m.id);

    const [event] = (await s.harness.eventLog('notifications_notification_created')).filter((e) => (e.payload as any).data.new.user_id === a);
    await s.harness.redeliverEvent(event!.id);
    await s.harness.drain({ timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await mails('ann@example.com')).toHaveLength(1);
    expect(await deliveries(a, 'email')).toHaveLength(1);
  });

  it('skips users without an address and users who turned email off; records why', async () => {
    const [noAddress, off] = [user(), user()];
    await contact(off, 'email: "off@example.com"');
    await s.harness.graphql('mutation { notificationsUpdatePreferences(preferences: [{category: "billing", channel: email, enabled: false}]) { timeZone } }', {}, as(off));
    await send({ userIds: [noAddress, off] });
    expect((await deliveries(noAddress, 'email')).map((d) => [d.status, d.reason])).toEqual([['skipped', 'no email address']]);
    expect((await deliveries(off, 'email')).map((d) => [d.status, d.reason])).toEqual([['skipped', 'turned off in preferences']]);
    expect(await mails('off@example.com')).toHaveLength(0);
  });
});

describe('sms', () => {
  it('stores texts in the SMS outbox for categories that use SMS', async () => {
    const a = user();
    await contact(a, 'phone: "+4915123456789"');
    await send({ userIds: [a], category: 'alerts', title: 'Server down', body: 'db-1 is not answering' });
    await waitFor(async () => (await deliveries(a, 'sms'))[0]?.status === 'sent', 20_000, 'sms sent');
    const rows = (await s.pool.query('select to_number, body, transport, status from notifications.sms_message where delivery_id = $1', [(await deliveries(a, 'sms'))[0].id])).rows;
    expect(rows).toEqual([{ to_number: '+4915123456789', body: 'Server down: db-1 is not answering', transport: 'outbox', status: 'sent' }]);
  });

  it('sends through Twilio\'s REST API and tells permanent from passing failures', async () => {
    const fake = new TwilioFake();
    await fake.start();
    try {
      const config = notificationsConfig.parse({
        NOTIFICATIONS_SMS_TRANSPORT: 'twilio',
        NOTIFICATIONS_TWILIO_ACCOUNT_SID: fake.sid,
        NOTIFICATIONS_TWILIO_AUTH_TOKEN: fake.token,
        NOTIFICATIONS_TWILIO_FROM: '+15005550006',
        NOTIFICATIONS_TWILIO_API_URL: fake.url,
      });
      const sender = twilioSender(config);
      const ok = await sender.send('+4915123456789', 'hello');
      expect(ok).toMatchObject({ ok: true });
      expect(fake.sent).toEqual([{ to: '+4915123456789', from: '+15005550006', body: 'hello', sid: ok.ref }]);
      expect(await sender.send('12345', 'x')).toMatchObject({ ok: false, retryable: false });
      fake.failNext = 1;
      expect(await sender.send('+4915123456789', 'x')).toMatchObject({ ok: false, retryable: true });
      const wrong = twilioSender({ ...config, NOTIFICATIONS_TWILIO_AUTH_TOKEN: 'wrong-token-0123456789' });
      expect(await wrong.send('+4915123456789', 'x')).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/401 20003/) });
      expect(fake.sent).toHaveLength(1);
    } finally {
      await fake.stop();
    }
  });
});

describe('digests', () => {
  it('collects unread notifications into one email at the user\'s local digest hour, each in at most one digest', async () => {
    const a = user();
    await contact(a, 'email: "dora@example.com", timeZone: "America/New_York"');
    await s.harness.graphql('mutation { notificationsUpdatePreferences(digestHour: 9, preferences: [{category: "*", channel: email, digest: daily}]) { timeZone } }', {}, as(a));
    await send({ userIds: [a], title: 'First' });
    await send({ userIds: [a], title: 'Second' });
    await send({ userIds: [a], title: 'Third' });
    await send({ userIds: [a], title: 'Urgent', priority: 'critical' });
    const planned = await deliveries(a, 'email');
    expect(planned.slice(0, 3).map((d) => [d.title, d.status, d.digest])).toEqual([['First', 'digest', 'daily'], ['Second', 'digest', 'daily'], ['Third', 'digest', 'daily']]);
    expect(planned[3].digest).toBeNull(); // critical: straight out
    await waitFor(async () => (await mails('dora@example.com')).length === 1, 20_000, 'the critical email at once');

    const [, second] = (await s.pool.query(`select id from notifications.notification where user_id = $1 order by created_at`, [a])).rows;
    await s.harness.graphql('mutation ($ids: [uuid!]!) { notificationsMarkRead(ids: $ids) { updated } }', { ids: [second.id] }, as(a));

    // 13:00 UTC is 09:00 in New York in summer (EDT); 12:00 UTC is 08:00 there: nothing due.
    expect((await s.harness.fireCron('notifications_digest_send', { scheduledTime: new Date('2030-07-01T12:00:00Z') })).status).toBe('delivered');
    expect(await mails('dora@example.com')).toHaveLength(1);
    expect((await s.harness.fireCron('notifications_digest_send', { scheduledTime: new Date('2030-07-01T13:00:00Z') })).status).toBe('delivered');
    const digestMails = (await mails('dora@example.com')).filter((m) => m.template_key === 'notifications.digest');
    expect(digestMails).toHaveLength(1);
    expect(digestMails[0].subject).toBe('2 new notifications');
    expect(digestMails[0].html).toContain('First');
    expect(digestMails[0].html).toContain('Third');
    expect(digestMails[0].html).not.toContain('Second');
    expect((await deliveries(a, 'email')).map((d) => [d.title, d.status])).toEqual([['First', 'sent'], ['Second', 'skipped'], ['Third', 'sent'], ['Urgent', 'sent']]);

    // The same cron event again, and the same day again: nothing more.
    await s.harness.fireCron('notifications_digest_send', { scheduledTime: new Date('2030-07-01T13:00:00Z') });
    expect((await mails('dora@example.com')).filter((m) => m.template_key === 'notifications.digest')).toHaveLength(1);

    await send({ userIds: [a], title: 'Fourth' });
    await s.harness.fireCron('notifications_digest_send', { scheduledTime: new Date('2030-07-02T13:00:00Z') });
    const next = (await mails('dora@example.com')).filter((m) => m.template_key === 'notifications.digest');
    expect(next).toHaveLength(2);
    expect(next[1].subject).toBe('1 new notification');
    expect(next[1].html).toContain('Fourth');
    expect(next[1].html).not.toContain('First');
    const counts = (await s.pool.query('select digest_id, count(*)::int as n from notifications.notification where user_id = $1 and digest_id is not null group by digest_id', [a])).rows;
    expect(counts.map((c) => c.n).sort()).toEqual([1, 2]);
  });
});
