/**
 * email through Hasura and the real server on the embedded default transport (the outbox): templates with a
 * layout, locale fallback, escaping, derived text, variables checked against the schema, previews, idempotent
 * sends, and every kind of bad input refused with a 4xx that writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorCode, startStack, waitFor, type Stack } from './support/stack.js';

const service = { role: 'service' };
let s: Stack;

const SEND = `mutation Send($to: [String!]!, $template: String, $locale: String, $data: jsonb, $subject: String, $html: String, $text: String,
  $idempotencyKey: String, $transactional: Boolean, $category: String, $cc: [String!], $from: String, $attachments: [EmailAttachmentInput!]) {
  emailSend(to: $to, template: $template, locale: $locale, data: $data, subject: $subject, html: $html, text: $text,
    idempotencyKey: $idempotencyKey, transactional: $transactional, category: $category, cc: $cc, from: $from, attachments: $attachments) {
    messageId status duplicate suppressed } }`;
const UPSERT = `mutation Upsert($key: String!, $locale: String!, $subject: String!, $html: String, $text: String, $schema: jsonb, $layout: String, $transactional: Boolean, $category: String) {
  emailUpsertTemplate(key: $key, locale: $locale, subject: $subject, html: $html, text: $text, schema: $schema, layout: $layout, transactional: $transactional, category: $category) {
    id key locale schema created } }`;

type SendResult = { emailSend: { messageId: string; status: string; duplicate: boolean; suppressed: string[] } };

const messages = async () => (await s.pool.query('select count(*)::int as n from email.message')).rows[0].n as number;
const message = async (id: string) => (await s.pool.query('select * from email.message where id = $1', [id])).rows[0];

beforeAll(async () => {
  s = await startStack('email_templates');
  for (const [locale, subject, html] of [
    ['en', 'Welcome, {{name}}', '<p>Hello {{name}}, welcome to {{app}}.</p>'],
    ['de', 'Willkommen, {{name}}', '<p>Hallo {{name}}, willkommen bei {{app}}.</p>'],
  ] as const) {
    const res = await s.harness.graphql(UPSERT, { key: 'welcome', locale, subject, html }, service);
    expect(res.errors).toBeUndefined();
  }
});
afterAll(async () => {
  await s?.close();
});

describe('templates', () => {
  it('derives a strict schema from the template when none is given', async () => {
    const res = await s.harness.graphql<{ emailUpsertTemplate: { schema: unknown; created: boolean } }>(
      UPSERT,
      { key: 'derived', locale: 'en', subject: 'Hi {{name}}', html: '{{#if vip}}<b>{{level}}</b>{{/if}}{{#each items}}{{title}}{{/each}}' },
      service,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.emailUpsertTemplate.created).toBe(true);
    expect(res.data!.emailUpsertTemplate.schema).toEqual({
      type: 'object',
      properties: { items: {}, level: {}, name: {}, vip: {} },
      required: ['name'],
      additionalProperties: false,
    });
    const again = await s.harness.graphql<{ emailUpsertTemplate: { created: boolean } }>(UPSERT, { key: 'derived', locale: 'en', subject: 'Hey {{name}}', text: 'x' }, service);
    expect(again.data!.emailUpsertTemplate.created).toBe(false);
  });

  it('renders in the layout, escapes HTML in data and derives the text part', async () => {
    const res = await s.harness.graphql<SendResult>(SEND, { to: ['Ann <ann@example.com>'], template: 'welcome', locale: 'en', data: { name: '<script>alert(1)</script>', app: 'Chat & Co' } }, service);
    expect(res.errors).toBeUndefined();
    const m = await message(res.data!.emailSend.messageId);
    expect(m.subject).toBe('Welcome, <script>alert(1)</script>'); // a subject is not HTML: no entities, but one line
    expect(m.html).toContain('<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;, welcome to Chat &amp; Co.</p>');
    expect(m.html).not.toContain('<script>');
    expect(m.html).toMatch(/^<!doctype html>/); // the default layout
    expect(m.text).toBe('Hello <script>alert(1)</script>, welcome to Chat & Co.');
    expect(m.to_addresses).toEqual(['Ann <ann@example.com>']);
    expect(m.template_key).toBe('welcome');
    expect(m.transactional).toBe(true);
    expect(m.headers).toEqual({});
  });

  it('falls back de-AT → de → en', async () => {
    const at = await s.harness.graphql<SendResult>(SEND, { to: ['a@example.com'], template: 'welcome', locale: 'de-AT', data: { name: 'Jo', app: 'X' } }, service);
    expect((await message(at.data!.emailSend.messageId)).locale).toBe('de');
    expect((await message(at.data!.emailSend.messageId)).subject).toBe('Willkommen, Jo');
    const fr = await s.harness.graphql<SendResult>(SEND, { to: ['a@example.com'], template: 'welcome', locale: 'fr-CA', data: { name: 'Jo', app: 'X' } }, service);
    expect((await message(fr.data!.emailSend.messageId)).locale).toBe('en');
  });

  it('previews without storing anything', async () => {
    const before = await messages();
    const res = await s.harness.graphql<{ emailPreview: { subject: string; html: string; text: string; locale: string } }>(
      'query ($data: jsonb) { emailPreview(template: "welcome", locale: "de-CH", data: $data) { subject html text locale } }',
      { data: { name: 'Mia', app: 'Y' } },
      service,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.emailPreview).toMatchObject({ subject: 'Willkommen, Mia', locale: 'de', text: 'Hallo Mia, willkommen bei Y.' });
    expect(await messages()).toBe(before);
  });

  it('sends the outbox: status sent, readable by the service role, not by users', async () => {
    const res = await s.harness.graphql<SendResult>(SEND, { to: ['b@example.com'], subject: 'Plain', text: 'just text' }, service);
    const id = res.data!.emailSend.messageId;
    await waitFor(async () => (await message(id)).status === 'sent', 20_000, 'outbox send');
    const m = await message(id);
    expect(m).toMatchObject({ transport: 'outbox', provider_message_id: `outbox:${id}`, attempts: 1, html: null, text: 'just text' });
    const rows = await s.harness.select('service', {}, { schema: 'email', name: 'message' }, { id: { _eq: id } });
    expect(rows).toHaveLength(1);
    expect(await s.harness.select('user', { userId: 'u1' }, { schema: 'email', name: 'message' })).toEqual([]);
  });

  it('returns the first message for a replayed idempotency key and refuses the key with other content', async () => {
    const vars = { to: ['c@example.com'], subject: 'Once', text: 'only once', idempotencyKey: 'order-42-receipt' };
    const first = await s.harness.graphql<SendResult>(SEND, vars, service);
    const second = await s.harness.graphql<SendResult>(SEND, vars, service);
    expect(second.data!.emailSend).toMatchObject({ messageId: first.data!.emailSend.messageId, duplicate: true });
    expect(first.data!.emailSend.duplicate).toBe(false);
    const n = await s.pool.query(`select count(*)::int as n from email.message where idempotency_key = 'order-42-receipt'`);
    expect(n.rows[0].n).toBe(1);
    const other = await s.harness.graphql(SEND, { ...vars, text: 'something else' }, service);
    expect(errorCode(other)).toBe('email/idempotency-conflict');
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown template', { to: ['a@example.com'], template: 'nope', data: {} }, 'email/unknown-template'],
    ['a missing variable', { to: ['a@example.com'], template: 'welcome', data: { app: 'X' } }, 'email/invalid-variables'],
    ['an extra variable', { to: ['a@example.com'], template: 'welcome', data: { name: 'a', app: 'X', evil: 1 } }, 'email/invalid-variables'],
    ['a header injection in an address', { to: ['a@example.com\r\nBcc: victim@example.com'], subject: 's', text: 't' }, 'email/invalid-address'],
    ['two addresses in one', { to: ['a@example.com, b@example.com'], subject: 's', text: 't' }, 'email/invalid-address'],
    ['no recipient', { to: [], subject: 's', text: 't' }, 'email/invalid-input'],
    ['no content', { to: ['a@example.com'] }, 'email/content-required'],
    ['template and content at once', { to: ['a@example.com'], template: 'welcome', subject: 's', text: 't' }, 'email/invalid-input'],
    ['too many recipients', { to: Array.from({ length: 51 }, (_, i) => `u${i}@example.com`), subject: 's', text: 't' }, 'email/too-many-recipients'],
    ['a non-object data', { to: ['a@example.com'], template: 'welcome', data: [1, 2] }, 'email/invalid-input'],
    ['a non-transactional mail to two people', { to: ['a@example.com', 'b@example.com'], subject: 's', text: 't', transactional: false }, 'email/invalid-input'],
    ['an attachment id of no file', { to: ['a@example.com'], subject: 's', text: 't', attachments: [{ fileId: '00000000-0000-4000-8000-000000000000' }] }, 'email/attachment-not-found'],
    ['an attachment id that is not a uuid', { to: ['a@example.com'], subject: 's', text: 't', attachments: [{ fileId: 'x' }] }, 'email/invalid-input'],
  ];
  it.each(cases)('%s', async (_what, vars, code) => {
    const before = await messages();
    const res = await s.harness.graphql(SEND, vars, service);
    expect(errorCode(res)).toBe(code);
    expect(await messages()).toBe(before);
  });

  it('refuses wrong argument types before the handler runs', async () => {
    const res = await s.harness.graphql('mutation { emailSend(to: "a@example.com", subject: 5, text: "t") { messageId } }', {}, service);
    expect(errorCode(res)).toBe('validation-failed');
  });

  it('does not exist for the user role', async () => {
    const res = await s.harness.graphql(SEND, { to: ['a@example.com'], subject: 's', text: 't' }, { role: 'user', userId: 'u1' });
    expect(errorCode(res)).toBe('validation-failed');
  });

  it('refuses a body over the server limit (1 MB)', async () => {
    const before = await messages();
    const res = await s.harness.graphql(SEND, { to: ['a@example.com'], subject: 's', html: 'x'.repeat(1024 * 1024 + 10) }, service);
    expect(res.errors?.length).toBeGreaterThan(0);
    expect(await messages()).toBe(before);
  });

  it.each([
    ['a template that does not compile', { key: 'bad', locale: 'en', subject: 'x', html: '{{#if}}' }, 'email/invalid-template'],
    ['a partial', { key: 'bad', locale: 'en', subject: 'x', html: '{{> other}}' }, 'email/invalid-template'],
    ['a schema that is not a JSON Schema', { key: 'bad', locale: 'en', subject: 'x', text: 'y', schema: { type: 'objekt' } }, 'email/invalid-schema'],
    ['an unknown layout', { key: 'bad', locale: 'en', subject: 'x', text: 'y', layout: 'missing' }, 'email/unknown-layout'],
    ['a malformed locale', { key: 'bad', locale: 'en_US!', subject: 'x', text: 'y' }, 'email/invalid-input'],
    ['a key with a slash', { key: '../etc', locale: 'en', subject: 'x', text: 'y' }, 'email/invalid-input'],
  ])('emailUpsertTemplate refuses %s', async (_what, vars, code) => {
    const res = await s.harness.graphql(UPSERT, vars, service);
    expect(errorCode(res)).toBe(code);
    const n = await s.pool.query(`select count(*)::int as n from email.template where key = 'bad'`);
    expect(n.rows[0].n).toBe(0);
  });
});

describe('crons', () => {
  it('email_message_requeue queues a message whose job was lost, once', async () => {
    const r = await s.pool.query(
      `insert into email.message (status, transport, to_addresses, from_address, subject, text, updated_at)
       values ('queued', 'outbox', '{lost@example.com}', 'a@example.com', 'Lost', 'lost', now() - interval '1 hour') returning id`,
    );
    const id = r.rows[0].id;
    expect((await s.harness.fireCron('email_message_requeue')).status).toBe('delivered');
    expect((await s.harness.fireCron('email_message_requeue')).status).toBe('delivered');
    await waitFor(async () => (await message(id)).status === 'sent', 20_000, 'requeued message sent');
    expect((await message(id)).attempts).toBe(1);
  });

  it('email_prune_messages deletes messages past the retention, with their events', async () => {
    const old = await s.pool.query(
      `insert into email.message (status, transport, to_addresses, from_address, subject, text, created_at)
       values ('sent', 'outbox', '{old@example.com}', 'a@example.com', 'Old', 'old', now() - interval '100 days') returning id`,
    );
    await s.pool.query(`insert into email.event (message_id, provider, type, provider_event_id, payload) values ($1, 'sendgrid', 'delivered', 'old-ev', '{}')`, [old.rows[0].id]);
    const before = await messages();
    expect((await s.harness.fireCron('email_prune_messages')).status).toBe('delivered');
    expect(await message(old.rows[0].id)).toBeUndefined();
    expect((await s.pool.query(`select count(*)::int as n from email.event where provider_event_id = 'old-ev'`)).rows[0].n).toBe(0);
    expect(await messages()).toBe(before - 1);
  });
});

describe('without the files plugin', () => {
  let lone: Stack;
  beforeAll(async () => {
    lone = await startStack('email_no_files', { PLUGINS_ENABLED: 'core,jobs,email', JOBS_QUEUES: 'email.send' });
  }, 60_000);
  afterAll(async () => {
    await lone?.close();
  });

  it('refuses attachments by file id with a clear error and writes nothing', async () => {
    const count = async () => (await lone.pool.query('select count(*)::int as n from email.message')).rows[0].n as number;
    const before = await count();
    const res = await lone.harness.graphql(SEND, { to: ['a@example.com'], subject: 's', text: 't', attachments: [{ fileId: '00000000-0000-4000-8000-000000000000' }] }, service);
    expect(errorCode(res)).toBe('email/attachments-unavailable');
    expect(await count()).toBe(before);
    const plain = await lone.harness.graphql<{ emailSend: { id: string } }>(SEND, { to: ['a@example.com'], subject: 's', text: 't' }, service);
    expect(plain.errors).toBeUndefined();
    expect(await count()).toBe(before + 1);
  });
});
