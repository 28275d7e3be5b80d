/**
 * The SMTP transport against a real SMTP server (smtp-server): what arrives (headers, parts, Message-ID,
 * List-Unsubscribe), one-click unsubscribe through the signed link, hard bounces to the suppression list,
 * attachments streamed from the files plugin's storage (a real upload through its actions), and an SMTP outage: every message queued meanwhile arrives once
 * the server is back, none lost and none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SmtpPeer } from './support/smtp-peer.js';
import { errorCode, startStack, waitFor, type Stack } from './support/stack.js';

const service = { role: 'service' };
const SEND = `mutation Send($to: [String!]!, $subject: String, $html: String, $text: String, $transactional: Boolean, $category: String,
  $template: String, $data: jsonb, $attachments: [EmailAttachmentInput!], $cc: [String!]) {
  emailSend(to: $to, subject: $subject, html: $html, text: $text, transactional: $transactional, category: $category,
    template: $template, data: $data, attachments: $attachments, cc: $cc) { messageId status suppressed } }`;
type SendResult = { emailSend: { messageId: string; status: string; suppressed: string[] } };

let s: Stack;
const peer = new SmtpPeer();
const filesDir = mkdtempSync(join(tmpdir(), 'email-files-'));
const owner = { role: 'user', userId: 'u-attach' };

/** A file through the files plugin as a client uploads it; `complete: false` leaves it pending. */
async function upload(name: string, mimeType: string, bytes: Buffer, complete = true): Promise<string> {
  const created = await s.harness.graphql<{ filesCreateUpload: { id: string; url: string; method: string; headers: Record<string, string> | null } }>(
    'mutation ($n: String!, $t: String!, $z: bigint!) { filesCreateUpload(bucket: "default", name: $n, mimeType: $t, size: $z) { id url method headers } }',
    { n: name, t: mimeType, z: bytes.length },
    owner,
  );
  expect(created.errors).toBeUndefined();
  const u = created.data!.filesCreateUpload;
  if (!complete) return u.id;
  // PUBLIC_URL is the default (port 3100); the server under test listens on a free port.
  const target = new URL(u.url);
  const put = await fetch(new URL(target.pathname + target.search, s.url), { method: u.method, headers: u.headers ?? {}, body: bytes });
  expect(put.status).toBeLessThan(300);
  const done = await s.harness.graphql('mutation ($id: uuid!) { filesCompleteUpload(id: $id) { id } }', { id: u.id }, owner);
  expect(done.errors).toBeUndefined();
  await waitFor(async () => (await s.pool.query('select status from files.file where id = $1', [u.id])).rows[0]?.status === 'ready', 30_000, `${name} ready`);
  return u.id;
}

const status = async (id: string) => (await s.pool.query('select status, attempts, last_error from email.message where id = $1', [id])).rows[0];
async function send(vars: Record<string, unknown>): Promise<string> {
  const res = await s.harness.graphql<SendResult>(SEND, vars, service);
  expect(res.errors).toBeUndefined();
  return res.data!.emailSend.messageId;
}

beforeAll(async () => {
  const port = await peer.start();
  s = await startStack('email_smtp', {
    EMAIL_TRANSPORT: 'smtp',
    EMAIL_SMTP_URL: `smtp://127.0.0.1:${port}`,
    EMAIL_SMTP_TIMEOUT_MS: '2000',
    EMAIL_SEND_BACKOFF_MS: '100',
    EMAIL_FROM: 'Chat <no-reply@chat.example>',
    EMAIL_MAX_ATTACHMENT_BYTES: '1000',
    FILES_LOCAL_DIR: filesDir,
    FILES_FEATURES: 'none',
    JOBS_QUEUES: 'email.send,files.scan',
  });
});
afterAll(async () => {
  await s?.close();
  await peer.stop();
  rmSync(filesDir, { recursive: true, force: true });
});

describe('SMTP transport', () => {
  it('delivers the message with its parts and a Message-ID made of the message id', async () => {
    const id = await send({ to: ['Ann <ann@example.com>'], cc: ['bob@example.com'], subject: 'Hi there', html: '<p>Hello <b>Ann</b></p>' });
    await waitFor(async () => (await status(id)).status === 'sent', 20_000, 'sent');
    const [r] = peer.byMessageId(id);
    expect(r).toBeDefined();
    expect(r!.mail.subject).toBe('Hi there');
    expect(r!.mail.messageId).toBe(`<${id}@chat.example>`);
    expect(r!.mail.html).toContain('<p>Hello <b>Ann</b></p>');
    expect(r!.mail.text?.trim()).toBe('Hello Ann');
    expect(r!.envelope.to.sort()).toEqual(['ann@example.com', 'bob@example.com']);
    expect(r!.mail.headers.get('list-unsubscribe')).toBeUndefined(); // transactional
    const row = (await s.pool.query('select provider_message_id from email.message where id = $1', [id])).rows[0];
    expect(row.provider_message_id).toBe(`<${id}@chat.example>`);
  });

  it('puts List-Unsubscribe on non-transactional mail; the one-click POST suppresses that category only', async () => {
    const id = await send({ to: ['news@example.com'], subject: 'Weekly', html: '<p>news</p>', transactional: false, category: 'newsletter' });
    await waitFor(async () => (await status(id)).status === 'sent', 20_000, 'sent');
    const [r] = peer.byMessageId(id);
    const line = (key: string) => r!.mail.headerLines.find((h) => h.key === key)?.line ?? '';
    const header = line('list-unsubscribe');
    expect(line('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    const url = /<(http[^>]+)>/.exec(header)?.[1];
    expect(url).toMatch(new RegExp(`^${s.url.replace('127.0.0.1', 'localhost').replace(/:\d+$/, '')}|^http://localhost`));
    const local = new URL(url!);
    const target = `${s.url}${local.pathname}${local.search}`;

    // GET asks, changes nothing (link scanners fetch links).
    const page = await fetch(target);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('n***@example.com');
    expect((await s.pool.query(`select count(*)::int as n from email.suppression where address = 'news@example.com'`)).rows[0].n).toBe(0);

    const tampered = await fetch(target.replace(/.{4}$/, 'AAAA'), { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(tampered.status).toBe(400);
    const post = await fetch(target, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(200);
    const again = await fetch(target, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(again.status).toBe(200);
    const rows = (await s.pool.query(`select scope, reason from email.suppression where address = 'news@example.com'`)).rows;
    expect(rows).toEqual([{ scope: 'newsletter', reason: 'unsubscribe' }]);

    const res = await s.harness.graphql<SendResult>(SEND, { to: ['news@example.com'], subject: 'Weekly 2', text: 'more', transactional: false, category: 'newsletter' }, service);
    expect(res.data!.emailSend).toMatchObject({ status: 'suppressed', suppressed: ['news@example.com'] });
    const tx = await send({ to: ['news@example.com'], subject: 'Your receipt', text: 'receipt' });
    await waitFor(async () => (await status(tx)).status === 'sent', 20_000, 'transactional sent');
  });

  it('records a hard bounce (550 at RCPT) as failed and suppresses the address for all mail', async () => {
    peer.reject.add('gone@example.com');
    const id = await send({ to: ['gone@example.com'], subject: 'Hello?', text: 'anyone' });
    await waitFor(async () => (await status(id)).status === 'failed', 20_000, 'failed');
    expect((await status(id)).attempts).toBe(1);
    const sup = (await s.pool.query(`select scope, reason from email.suppression where address = 'gone@example.com'`)).rows;
    expect(sup).toEqual([{ scope: '*', reason: 'bounce' }]);
    const again = await s.harness.graphql<SendResult>(SEND, { to: ['gone@example.com'], subject: 'Hello?', text: 'again' }, service);
    expect(again.data!.emailSend.status).toBe('suppressed');
  });

  it('attaches files by id, streamed from the files plugin’s storage, and refuses files that are not ready or too large', async () => {
    const pdf = Buffer.from('%PDF-1.4\n%tiny invoice\n');
    const ok = await upload('invoice.pdf', 'application/pdf', pdf);
    const pending = await upload('draft.pdf', 'application/pdf', pdf, false);
    const big = await upload('huge.txt', 'text/plain', Buffer.alloc(1500, 'x'));
    const id = await send({ to: ['ann@example.com'], subject: 'Invoice', text: 'attached', attachments: [{ fileId: ok, filename: 'March.pdf' }] });
    await waitFor(async () => (await status(id)).status === 'sent', 20_000, 'sent');
    const att = peer.byMessageId(id)[0]!.mail.attachments;
    expect(att.map((a) => [a.filename, a.contentType, a.content.toString()])).toEqual([['March.pdf', 'application/pdf', pdf.toString()]]);

    const notReady = await s.harness.graphql(SEND, { to: ['ann@example.com'], subject: 'x', text: 'y', attachments: [{ fileId: pending }] }, service);
    expect(errorCode(notReady)).toBe('email/attachment-not-found');
    const tooBig = await s.harness.graphql(SEND, { to: ['ann@example.com'], subject: 'x', text: 'y', attachments: [{ fileId: big }] }, service);
    expect(errorCode(tooBig)).toBe('email/attachments-too-large');
    const unknown = await s.harness.graphql(SEND, { to: ['ann@example.com'], subject: 'x', text: 'y', attachments: [{ fileId: '44444444-4444-4444-8444-444444444444' }] }, service);
    expect(errorCode(unknown)).toBe('email/attachment-not-found');
  });
});

describe('SMTP outage', () => {
  it('queues while the server is down and sends every message once when it is back', async () => {
    const port = peer.port;
    await peer.stop();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send({ to: [`outage${i}@example.com`], subject: `During the outage ${i}`, text: 'queued' }));
    // Each has failed at least once against the closed port and waits for its next attempt.
    await waitFor(async () => {
      const r = await s.pool.query(`select count(*)::int as n from email.message where id = any($1) and attempts >= 2 and status = 'queued'`, [ids]);
      return r.rows[0].n === ids.length;
    }, 30_000, 'failed attempts while down');
    const errors = await s.pool.query(`select last_error from email.message where id = any($1)`, [ids]);
    expect(errors.rows.every((r) => /ECONNREFUSED|connect/i.test(r.last_error))).toBe(true);

    await peer.start(port);
    await waitFor(async () => {
      const r = await s.pool.query(`select count(*)::int as n from email.message where id = any($1) and status = 'sent'`, [ids]);
      return r.rows[0].n === ids.length;
    }, 60_000, 'all sent after the outage');
    for (const id of ids) expect(peer.byMessageId(id)).toHaveLength(1);
  });
});
