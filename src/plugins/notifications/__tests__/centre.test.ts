/**
 * The in-app centre through Hasura and the real server: rows per recipient (by user ids or topic), what each
 * user may read (own rows only, the unread-count aggregate the subscription runs), marking read/seen/archived
 * (another user's ids change nothing and reveal nothing), preferences with locked critical categories, topics
 * with private ones closed to users, idempotent sends, and bad input refused with nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { errorCode, startStack, type Stack } from '../../email/__tests__/support/stack.js';

const service = { role: 'service' };
const as = (userId: string) => ({ role: 'user', userId });
const user = () => `u-${randomBytes(4).toString('hex')}`;
const NOTIFICATION = { schema: 'notifications', name: 'notification' };
const SEND = `mutation ($userIds: [String!], $topic: String, $category: String!, $title: String, $body: String, $template: String, $data: jsonb,
  $idempotencyKey: String, $channels: [NotificationsChannel!], $priority: NotificationsPriority, $actionUrl: String) {
  notificationsSend(userIds: $userIds, topic: $topic, category: $category, title: $title, body: $body, template: $template, data: $data,
    idempotencyKey: $idempotencyKey, channels: $channels, priority: $priority, actionUrl: $actionUrl) { sendId notificationCount duplicate } }`;
type Sent = { notificationsSend: { sendId: string; notificationCount: number; duplicate: boolean } };
const MARK = 'mutation ($ids: [uuid!]!) { notificationsMarkRead(ids: $ids) { updated unreadCount } }';

let s: Stack;
const count = async () => (await s.pool.query('select count(*)::int as n from notifications.notification')).rows[0].n as number;
async function send(vars: Record<string, unknown>) {
  const r = await s.harness.graphql<Sent>(SEND, { category: 'general', title: 'Hello', ...vars }, service);
  expect(r.errors).toBeUndefined();
  return r.data!.notificationsSend;
}
const idsOf = async (userId: string) => (await s.pool.query('select id from notifications.notification where user_id = $1 order by created_at', [userId])).rows.map((r) => r.id as string);

/** The unread badge, as the documented subscription's aggregate computes it under the user's permission. */
const unread = async (userId: string) =>
  (await s.harness.select('user', { userId }, NOTIFICATION, { _and: [{ read_at: { _is_null: true } }, { archived_at: { _is_null: true } }] })).length;

beforeAll(async () => {
  s = await startStack('notif_centre');
});
afterAll(async () => {
  await s?.close();
});

describe('the centre', () => {
  it('writes one row per recipient that only its user reads', async () => {
    const [a, b] = [user(), user()];
    const r = await send({ userIds: [a, b, a], title: 'Welcome', body: 'Glad you are here', data: { x: 1 }, actionUrl: '/rooms/1' });
    expect(r).toMatchObject({ notificationCount: 2, duplicate: false });
    const mine = await s.harness.select('user', { userId: a }, NOTIFICATION);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ title: 'Welcome', body: 'Glad you are here', data: { x: 1 }, action_url: '/rooms/1', category: 'general', read_at: null });
    expect(mine[0]).not.toHaveProperty('user_id');
    expect(mine[0]).not.toHaveProperty('in_app');
    const theirs = await s.harness.select('user', { userId: b }, NOTIFICATION, { id: { _eq: mine[0]!.id } });
    expect(theirs).toEqual([]);
    expect(await s.harness.select('anonymous', {}, NOTIFICATION)).toEqual([]);
  });

  it('marks read, seen and archived — only the caller\'s own rows, with the unread count', async () => {
    const [a, b] = [user(), user()];
    await send({ userIds: [a, b], title: 'One' });
    await send({ userIds: [a, b], title: 'Two' });
    const [a1, a2] = await idsOf(a);
    const [b1] = await idsOf(b);
    expect(await unread(a)).toBe(2);

    const other = await s.harness.graphql<any>(MARK, { ids: [b1] }, as(a));
    expect(other.data.notificationsMarkRead).toEqual({ updated: 0, unreadCount: 2 });
    const missing = await s.harness.graphql<any>(MARK, { ids: ['00000000-0000-4000-8000-000000000000'] }, as(a));
    expect(missing.data.notificationsMarkRead).toEqual(other.data.notificationsMarkRead); // no existence leak
    expect((await s.pool.query('select read_at from notifications.notification where id = $1', [b1])).rows[0].read_at).toBeNull();

    const mine = await s.harness.graphql<any>(MARK, { ids: [a1, b1] }, as(a));
    expect(mine.data.notificationsMarkRead).toEqual({ updated: 1, unreadCount: 1 });
    const again = await s.harness.graphql<any>(MARK, { ids: [a1] }, as(a));
    expect(again.data.notificationsMarkRead).toEqual({ updated: 0, unreadCount: 1 });

    const seen = await s.harness.graphql<any>('mutation { notificationsMarkSeen { updated unreadCount } }', {}, as(a));
    expect(seen.data.notificationsMarkSeen).toEqual({ updated: 1, unreadCount: 1 });
    const archive = await s.harness.graphql<any>('mutation ($ids: [uuid!]!) { notificationsArchive(ids: $ids) { updated unreadCount } }', { ids: [a2, b1] }, as(a));
    expect(archive.data.notificationsArchive).toEqual({ updated: 1, unreadCount: 0 });
    expect(await unread(a)).toBe(0);
    const restore = await s.harness.graphql<any>('mutation ($ids: [uuid!]!) { notificationsArchive(ids: $ids, archived: false) { updated unreadCount } }', { ids: [a2] }, as(a));
    expect(restore.data.notificationsArchive).toEqual({ updated: 1, unreadCount: 1 });

    const all = await s.harness.graphql<any>('mutation { notificationsMarkAllRead { updated unreadCount } }', {}, as(b));
    expect(all.data.notificationsMarkAllRead).toEqual({ updated: 2, unreadCount: 0 });
    expect(await unread(a)).toBe(1);
  });

  it('replays an idempotency key to the first send and refuses it with other content', async () => {
    const a = user();
    const vars = { userIds: [a], title: 'Once', idempotencyKey: `k-${a}` };
    const first = await send(vars);
    const second = await send(vars);
    expect(second).toEqual({ ...first, duplicate: true });
    expect(await idsOf(a)).toHaveLength(1);
    const other = await s.harness.graphql(SEND, { ...vars, category: 'general', title: 'Other' }, service);
    expect(errorCode(other)).toBe('notifications/idempotency-conflict');
  });

  it('renders a template per recipient locale', async () => {
    await s.harness.graphql('mutation { emailUpsertTemplate(key: "mention", locale: "en", subject: "{{who}} mentioned you", text: "in {{room}}") { id } }', {}, service);
    await s.harness.graphql('mutation { emailUpsertTemplate(key: "mention", locale: "de", subject: "{{who}} hat dich erwähnt", text: "in {{room}}") { id } }', {}, service);
    const [en, de] = [user(), user()];
    await s.harness.graphql('mutation ($u: String!) { notificationsSetContact(userId: $u, locale: "de-AT") { userId } }', { u: de }, service);
    await send({ userIds: [en, de], title: undefined, template: 'mention', data: { who: 'Ann <3', room: '#general' } });
    const rows = (await s.pool.query('select user_id, title, body from notifications.notification where user_id = any($1)', [[en, de]])).rows;
    expect(Object.fromEntries(rows.map((r) => [r.user_id, [r.title, r.body]]))).toEqual({ [en]: ['Ann <3 mentioned you', 'in #general'], [de]: ['Ann <3 hat dich erwähnt', 'in #general'] });
    const bad = await s.harness.graphql(SEND, { userIds: [en], category: 'general', template: 'mention', data: { who: 'x' } }, service);
    expect(errorCode(bad)).toBe('notifications/template-failed');
  });

  it('keeps a user\'s in-app "off" (the row is hidden from the centre) unless the send is critical', async () => {
    const a = user();
    await s.harness.graphql('mutation { notificationsUpdatePreferences(preferences: [{category: "general", channel: in_app, enabled: false}]) { timeZone } }', {}, as(a));
    await send({ userIds: [a], title: 'Quiet' });
    expect(await s.harness.select('user', { userId: a }, NOTIFICATION)).toEqual([]);
    await send({ userIds: [a], title: 'Loud', priority: 'critical' });
    expect((await s.harness.select('user', { userId: a }, NOTIFICATION)).map((r) => r.title)).toEqual(['Loud']);
  });
});

describe('topics', () => {
  it('lets users join public topics only, backends subscribe anyone, and sends reach the subscribers', async () => {
    const [a, b, c] = [user(), user(), user()];
    const SUB = 'mutation ($t: String!, $u: [String!]) { notificationsSubscribeTopic(topic: $t, userIds: $u) { topic changed } }';
    expect(errorCode(await s.harness.graphql(SUB, { t: 'room:private' }, as(a)))).toBe('notifications/unknown-topic');
    const byService = await s.harness.graphql<any>(SUB, { t: 'room:private', u: [a, b] }, service);
    expect(byService.data.notificationsSubscribeTopic).toEqual({ topic: 'room:private', changed: 2 });
    expect(errorCode(await s.harness.graphql(SUB, { t: 'room:private' }, as(c)))).toBe('notifications/unknown-topic');
    expect(errorCode(await s.harness.graphql(SUB, { t: 'room:private', u: [c] }, as(c)))).toBe('notifications/invalid-input');
    await s.pool.query(`insert into notifications.topic (key, public) values ('announcements', true)`);
    expect((await s.harness.graphql<any>(SUB, { t: 'announcements' }, as(c))).data.notificationsSubscribeTopic.changed).toBe(1);

    const r = await send({ topic: 'room:private', title: 'Room news' });
    expect(r.notificationCount).toBe(2);
    expect((await idsOf(c))).toHaveLength(0);
    const un = await s.harness.graphql<any>('mutation { notificationsUnsubscribeTopic(topic: "room:private") { changed } }', {}, as(a));
    expect(un.data.notificationsUnsubscribeTopic.changed).toBe(1);
    expect((await send({ topic: 'room:private', title: 'Again' })).notificationCount).toBe(1);
  });
});

describe('preferences', () => {
  const PREFS = `{ timeZone quietHours { start end } digestHour all { channel enabled digest }
    categories { key critical channels { channel enabled digest locked source } } }`;

  it('reads defaults, changes them per category and for all, and locks critical categories', async () => {
    const a = user();
    const before = await s.harness.graphql<any>(`query { notificationsPreferences ${PREFS} }`, {}, as(a));
    const general = before.data.notificationsPreferences.categories.find((c: any) => c.key === 'general');
    expect(general.channels.find((c: any) => c.channel === 'push')).toEqual({ channel: 'push', enabled: true, digest: 'off', locked: false, source: 'default' });
    const security = before.data.notificationsPreferences.categories.find((c: any) => c.key === 'security');
    expect(security.channels.every((c: any) => c.locked)).toBe(true);

    const r = await s.harness.graphql<any>(
      `mutation { notificationsUpdatePreferences(timeZone: "Europe/Berlin", quietHours: {start: "22:00", end: "07:00"}, digestHour: 9,
        preferences: [{category: "*", channel: email, enabled: true, digest: daily}, {category: "general", channel: push, enabled: false}]) ${PREFS} }`,
      {},
      as(a),
    );
    expect(r.errors).toBeUndefined();
    const p = r.data.notificationsUpdatePreferences;
    expect(p).toMatchObject({ timeZone: 'Europe/Berlin', quietHours: { start: '22:00', end: '07:00' }, digestHour: 9 });
    const g = p.categories.find((c: any) => c.key === 'general').channels;
    expect(g.find((c: any) => c.channel === 'push')).toMatchObject({ enabled: false, source: 'category' });
    expect(g.find((c: any) => c.channel === 'email')).toMatchObject({ enabled: true, digest: 'daily', source: 'all' });
    const cleared = await s.harness.graphql<any>(`mutation { notificationsUpdatePreferences(clearQuietHours: true) ${PREFS} }`, {}, as(a));
    expect(cleared.data.notificationsUpdatePreferences.quietHours).toBeNull();
  });

  it.each([
    ['turning off a critical category', '{preferences: [{category: "security", channel: email, enabled: false}]}', 'notifications/critical-category'],
    ['an unknown category', '{preferences: [{category: "nope", channel: push, enabled: false}]}', 'notifications/unknown-category'],
    ['an unknown time zone', '{timeZone: "Mars/Olympus"}', 'notifications/invalid-time-zone'],
    ['quiet hours that are not HH:MM', '{quietHours: {start: "25:00", end: "07:00"}}', 'notifications/invalid-input'],
    ['a digest on push', '{preferences: [{category: "general", channel: push, digest: daily}]}', 'notifications/invalid-input'],
  ])('refuses %s and changes nothing', async (_what, args, code) => {
    const a = user();
    const r = await s.harness.graphql(`mutation { notificationsUpdatePreferences${args.replace(/^\{/, '(').replace(/\}$/, ')')} { timeZone } }`, {}, as(a));
    expect(errorCode(r)).toBe(code);
    const rows = await s.pool.query('select 1 from notifications.preference where user_id = $1 union all select 1 from notifications.user_setting where user_id = $1', [a]);
    expect(rows.rowCount).toBe(0);
  });
});

describe('bad input to notificationsSend changes nothing', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown category', { userIds: ['x'], category: 'nope' }, 'notifications/unknown-category'],
    ['an unknown topic', { topic: 'nope', category: 'general' }, 'notifications/unknown-topic'],
    ['users and a topic', { userIds: ['x'], topic: 'announcements', category: 'general' }, 'notifications/invalid-input'],
    ['no recipients', { userIds: [], category: 'general' }, 'notifications/no-recipients'],
    ['no title', { userIds: ['x'], category: 'general', title: undefined }, 'notifications/invalid-input'],
    ['a title over 500 characters', { userIds: ['x'], category: 'general', title: 'x'.repeat(501) }, 'notifications/invalid-input'],
    ['data that is a list', { userIds: ['x'], category: 'general', data: [1] }, 'notifications/invalid-input'],
    ['a javascript: action URL', { userIds: ['x'], category: 'general', actionUrl: 'javascript:alert(1)' }, 'notifications/invalid-input'],
    ['an unknown template', { userIds: ['x'], category: 'general', title: undefined, template: 'nope' }, 'notifications/template-failed'],
    ['too many recipients', { userIds: Array.from({ length: 10_001 }, (_, i) => `u${i}`), category: 'general' }, 'notifications/too-many-recipients'],
  ];
  it.each(cases)('%s', async (_what, vars, code) => {
    const before = await count();
    const r = await s.harness.graphql(SEND, { title: 'T', ...vars }, service);
    expect(errorCode(r)).toBe(code);
    expect(await count()).toBe(before);
  });

  it('refuses a body over the 1 MB request limit', async () => {
    const before = await count();
    const r = await s.harness.graphql(SEND, { userIds: ['x'], category: 'general', title: 'T', body: 'x'.repeat(1024 * 1024) }, service);
    expect(r.errors?.length).toBeGreaterThan(0);
    expect(await count()).toBe(before);
  });

  it('keeps HTML in user data as text (clients render it escaped; emails escape it)', async () => {
    const a = user();
    await send({ userIds: [a], title: '<img src=x onerror=alert(1)>', body: '<script>x</script>' });
    const [row] = await s.harness.select('user', { userId: a }, NOTIFICATION);
    expect(row).toMatchObject({ title: '<img src=x onerror=alert(1)>', body: '<script>x</script>' });
  });

  it('is not available to users, and mark actions refuse ids that are not uuids', async () => {
    expect(errorCode(await s.harness.graphql(SEND, { userIds: ['x'], category: 'general', title: 'T' }, as('x')))).toBe('validation-failed');
    expect(errorCode(await s.harness.graphql(MARK, { ids: ['not-a-uuid'] }, as('x')))).toBe('notifications/invalid-input');
    expect(errorCode(await s.harness.graphql('mutation { notificationsMarkRead(ids: 5) { updated } }', {}, as('x')))).toBe('parse-failed');
  });
});

describe('notifications_prune', () => {
  it('deletes old read or archived notifications and keeps unread ones', async () => {
    const a = user();
    await send({ userIds: [a], title: 'Old read' });
    await send({ userIds: [a], title: 'Old unread' });
    await s.pool.query(`update notifications.notification set created_at = now() - interval '400 days' where user_id = $1`, [a]);
    await s.pool.query(`update notifications.notification set read_at = now() where user_id = $1 and title = 'Old read'`, [a]);
    expect((await s.harness.fireCron('notifications_prune')).status).toBe('delivered');
    const left = (await s.pool.query('select title from notifications.notification where user_id = $1', [a])).rows.map((r) => r.title);
    expect(left).toEqual(['Old unread']);
  });
});
