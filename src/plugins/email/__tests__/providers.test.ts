/**
 * SendGrid and Resend through their real clients against strict fakes, their signed event webhooks (forged,
 * stale and replayed deliveries refused or ignored), provider outages retried, and a worker killed after the
 * provider accepted a message: the next worker repeats the send with the same idempotency key and the
 * provider mails it once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ResendFake } from './support/resend-fake.js';
import { SendgridFake } from './support/sendgrid-fake.js';
import { SECRET, startStack, waitFor, type Stack } from './support/stack.js';

const service = { role: 'service' };
const SEND = `mutation Send($to: [String!]!, $subject: String, $html: String, $text: String) {
  emailSend(to: $to, subject: $subject, html: $html, text: $text) { messageId status } }`;
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', '..');

async function send(s: Stack, to: string, subject = 'Hello'): Promise<string> {
  const res = await s.harness.graphql<{ emailSend: { messageId: string } }>(SEND, { to: [to], subject, html: `<p>${subject}</p>` }, service);
  expect(res.errors).toBeUndefined();
  return res.data!.emailSend.messageId;
}
const row = async (s: Stack, id: string) => (await s.pool.query('select * from email.message where id = $1', [id])).rows[0];

describe('SendGrid', () => {
  const fake = new SendgridFake();
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = keys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  let s: Stack;

  const post = async (events: unknown[], opts: { timestamp?: number; forge?: boolean; body?: string } = {}) => {
    const body = opts.body ?? JSON.stringify(events);
    const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    const signer = opts.forge ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : keys.privateKey;
    const signature = sign('sha256', Buffer.from(ts + body), signer).toString('base64');
    return fetch(`${s.url}/hooks/email/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': ts },
      body,
    });
  };

  beforeAll(async () => {
    await fake.start();
    s = await startStack('email_sendgrid', {
      EMAIL_TRANSPORT: 'sendgrid',
      EMAIL_SENDGRID_API_KEY: fake.apiKey,
      EMAIL_SENDGRID_API_URL: fake.url,
      EMAIL_SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey,
      EMAIL_SEND_BACKOFF_MS: '100',
    });
  });
  afterAll(async () => {
    await s?.close();
    await fake.stop();
  });

  it('sends through the API with the message id as a custom argument and keeps the X-Message-Id', async () => {
    const id = await send(s, 'Dana <dana@example.com>');
    await waitFor(async () => (await row(s, id)).status === 'sent', 20_000, 'sent');
    const sent = fake.sent.find((x) => x.body.personalizations[0].custom_args?.nself_message_id === id || x.body.custom_args?.nself_message_id === id)!;
    expect(sent.body.from).toEqual({ email: 'no-reply@localhost', name: 'nself' });
    expect(sent.body.personalizations[0].to).toEqual([{ email: 'dana@example.com', name: 'Dana' }]);
    expect(sent.body.content.map((c: { type: string }) => c.type)).toEqual(['text/plain', 'text/html']);
    expect((await row(s, id)).provider_message_id).toBe(sent.messageId);
  });

  it('retries a 500 with backoff and sends once', async () => {
    fake.failNext = 2;
    const before = fake.sent.length;
    const id = await send(s, 'eve@example.com');
    await waitFor(async () => (await row(s, id)).status === 'sent', 20_000, 'sent after 500s');
    expect((await row(s, id)).attempts).toBe(3);
    expect(fake.sent.length).toBe(before + 1);
  });

  it('applies delivered and bounce events, suppresses the bounced address, ignores replays', async () => {
    const delivered = await send(s, 'fred@example.com');
    const bounced = await send(s, 'gina@example.com');
    await waitFor(async () => (await row(s, bounced)).status === 'sent' && (await row(s, delivered)).status === 'sent', 20_000, 'sent');
    const pid = (await row(s, delivered)).provider_message_id;
    const events = [
      { email: 'fred@example.com', timestamp: 1_700_000_000, event: 'delivered', sg_event_id: 'ev-1', sg_message_id: `${pid}.filter0001.1.0` },
      { email: 'gina@example.com', timestamp: 1_700_000_001, event: 'bounce', type: 'bounce', sg_event_id: 'ev-2', sg_message_id: 'x.y', nself_message_id: bounced },
      { email: 'nobody@example.com', timestamp: 1_700_000_002, event: 'open', sg_event_id: 'ev-3', sg_message_id: 'unknown.filter' },
    ];
    const res = await post(events);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ applied: 2, duplicates: 0, unmatched: 1 });
    expect((await row(s, delivered)).status).toBe('delivered');
    expect((await row(s, bounced)).status).toBe('bounced');
    expect((await s.pool.query(`select reason from email.suppression where address = 'gina@example.com'`)).rows).toEqual([{ reason: 'bounce' }]);

    const replay = await post(events);
    expect(await replay.json()).toEqual({ applied: 0, duplicates: 3, unmatched: 0 });
    // A late "delivered" never undoes the bounce.
    await post([{ email: 'gina@example.com', timestamp: 1_700_000_005, event: 'delivered', sg_event_id: 'ev-4', nself_message_id: bounced }]);
    expect((await row(s, bounced)).status).toBe('bounced');
  });

  it('refuses forged, stale, unsigned and malformed deliveries without changing anything', async () => {
    const id = await send(s, 'hank@example.com');
    await waitFor(async () => (await row(s, id)).status === 'sent', 20_000, 'sent');
    const ev = [{ email: 'hank@example.com', timestamp: 1, event: 'spamreport', sg_event_id: 'ev-forged', nself_message_id: id }];
    expect((await post(ev, { forge: true })).status).toBe(401);
    expect((await post(ev, { timestamp: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(401);
    const unsigned = await fetch(`${s.url}/hooks/email/sendgrid`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ev) });
    expect(unsigned.status).toBe(401);
    expect((await post([], { body: '{"not":"an array"}' })).status).toBe(400);
    expect((await row(s, id)).status).toBe('sent');
    expect((await s.pool.query(`select count(*)::int as n from email.event where provider_event_id = 'ev-forged'`)).rows[0].n).toBe(0);
  });
});

describe('Resend', () => {
  const fake = new ResendFake();
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  let s: Stack;

  const post = async (event: unknown, opts: { id?: string; secret?: string; timestamp?: number } = {}) => {
    const body = JSON.stringify(event);
    const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
    const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    const key = Buffer.from((opts.secret ?? secret).slice('whsec_'.length), 'base64');
    const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    return fetch(`${s.url}/hooks/email/resend`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': ts, 'svix-signature': `v1,${sig}` },
      body,
    });
  };

  beforeAll(async () => {
    await fake.start();
    s = await startStack('email_resend', {
      EMAIL_TRANSPORT: 'resend',
      EMAIL_RESEND_API_KEY: fake.apiKey,
      EMAIL_RESEND_API_URL: fake.url,
      EMAIL_RESEND_WEBHOOK_SECRET: secret,
      EMAIL_SEND_BACKOFF_MS: '100',
    });
  });
  afterAll(async () => {
    await s?.close();
    await fake.stop();
  });

  it('sends with the message id as idempotency key and tag, and applies signed events once', async () => {
    const id = await send(s, 'ivy@example.com');
    await waitFor(async () => (await row(s, id)).status === 'sent', 20_000, 'sent');
    const sent = fake.sent.find((x) => x.body.tags?.some((t: { value: string }) => t.value === id))!;
    expect(fake.requests.find((r) => r.body.toString().includes(id))!.headers['idempotency-key']).toBe(id);
    expect((await row(s, id)).provider_message_id).toBe(sent.id);

    const event = { type: 'email.complained', created_at: new Date().toISOString(), data: { email_id: sent.id, to: ['ivy@example.com'] } };
    const first = await post(event, { id: 'msg_fixed' });
    expect(await first.json()).toEqual({ applied: 1, duplicates: 0, unmatched: 0 });
    const again = await post(event, { id: 'msg_fixed' });
    expect(await again.json()).toEqual({ applied: 0, duplicates: 1, unmatched: 0 });
    expect((await row(s, id)).status).toBe('complained');
    expect((await s.pool.query(`select reason from email.suppression where address = 'ivy@example.com'`)).rows).toEqual([{ reason: 'complaint' }]);
  });

  it('refuses a wrong secret and a stale timestamp', async () => {
    const event = { type: 'email.bounced', created_at: new Date().toISOString(), data: { email_id: 'x', to: ['z@example.com'] } };
    expect((await post(event, { secret: `whsec_${randomBytes(24).toString('base64')}` })).status).toBe(401);
    expect((await post(event, { timestamp: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(401);
    expect((await s.pool.query(`select count(*)::int as n from email.suppression where address = 'z@example.com'`)).rows[0].n).toBe(0);
  });

  it('fails a message the API refuses (422) at once, without retrying', async () => {
    const r = await s.pool.query(
      `insert into email.message (status, transport, to_addresses, from_address, subject, text) values ('queued', 'resend', '{}', 'a@example.com', 's', 't') returning id`,
    );
    const { enqueueSend } = await import('../lib/messages.js');
    await enqueueSend({ jobs: s.runtime.pluginRuntime('email'), config: s.runtime.pluginConfig.get('email') as never }, r.rows[0].id);
    await waitFor(async () => (await row(s, r.rows[0].id)).status === 'failed', 20_000, 'failed');
    expect((await row(s, r.rows[0].id))).toMatchObject({ attempts: 1 });
    expect((await row(s, r.rows[0].id)).last_error).toMatch(/validation_error/);
  });
});

describe('a worker killed after the provider accepted', () => {
  const fake = new ResendFake();
  let s: Stack;
  const children: ChildProcess[] = [];

  const worker = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'worker', '--queues', 'email.send'], {
      cwd: root,
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    await fake.start();
    s = await startStack('email_kill', { EMAIL_TRANSPORT: 'resend', EMAIL_RESEND_API_KEY: fake.apiKey, EMAIL_RESEND_API_URL: fake.url, JOBS_WORKERS: 'false' });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await s?.close();
    await fake.stop();
  });

  it('mails once: the next worker repeats the send with the same idempotency key', async () => {
    const env = {
      DATABASE_URL: s.db.url,
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: 'silent',
      JOBS_DIR: '/nonexistent-app-jobs',
      EMAIL_TRANSPORT: 'resend',
      EMAIL_RESEND_API_KEY: fake.apiKey,
      EMAIL_RESEND_API_URL: fake.url,
      JOBS_LOCK_DURATION_MS: '2000',
      JOBS_STALLED_INTERVAL_MS: '1000',
    };
    // The provider accepts, then the worker dies before it hears back (and before anything is recorded).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = worker(env);
    fake.onAccept = () => {
      first.kill('SIGKILL');
    };
    const original = fake.requests.length;
    const id = await send(s, 'jack@example.com', 'Exactly once');
    await waitFor(() => first.exitCode !== null || first.signalCode !== null, 60_000, 'first worker killed');
    expect(fake.sent).toHaveLength(1);
    expect((await row(s, id)).status).toBe('sending');
    fake.onAccept = undefined;
    release();
    await held;

    worker(env);
    await waitFor(async () => (await row(s, id)).status === 'sent', 60_000, 'sent by the second worker');
    expect(fake.sent).toHaveLength(1);
    expect(fake.requests.length - original).toBeGreaterThanOrEqual(2);
    expect((await row(s, id)).provider_message_id).toBe(fake.sent[0]!.id);
    expect((await row(s, id)).attempts).toBe(2);
  });
});
