/**
 * Turning a send request into a stored, rendered message and a queued job: addresses checked, the template
 * found along the locale chain and rendered (so a bad template or bad variables fail the caller, not a worker
 * later), suppressed recipients left out, attachments checked, the row written once per idempotency key.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../../../core/plugin.js';
import type { EnqueueTarget } from '../../jobs/lib/enqueue.js';
import type { EmailConfig } from '../config.js';
import { formatMailbox, normalizeAddress, parseMailbox } from './address.js';
import type { AttachmentInfo, AttachmentSource } from './attachments.js';
import { emailError } from './errors.js';
import { localeChain } from './locale.js';
import { renderDirect, TemplateError, type Renderer, type Rendered } from './render.js';
import { findLayout, findTemplate } from './templates.js';
import { listUnsubscribeHeaders, signUnsubscribe, unsubscribeUrl } from './unsubscribe.js';
import { sendEmailJob } from './send-job.js';

export interface SendInput {
  to: readonly string[];
  cc?: readonly string[] | null;
  bcc?: readonly string[] | null;
  from?: string | null;
  replyTo?: string | null;
  /** A template key (email.template), or `subject` with `html` and/or `text`. */
  template?: string | null;
  locale?: string | null;
  subject?: string | null;
  html?: string | null;
  text?: string | null;
  data?: Record<string, unknown> | null;
  attachments?: ReadonlyArray<{ fileId: string; filename?: string | null }> | null;
  idempotencyKey?: string | null;
  /** Unsubscribe scope of non-transactional mail (default: the template's, else `general`). */
  category?: string | null;
  /** Default: the template's setting, else true. Non-transactional mail carries List-Unsubscribe. */
  transactional?: boolean | null;
  /** Kept with the message (e.g. the notification it belongs to). */
  metadata?: Record<string, unknown> | null;
}

export type MessageStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'bounced' | 'complained' | 'failed' | 'suppressed';

export interface QueuedMessage {
  id: string;
  status: MessageStatus;
  /** True when the idempotency key had been used: this is the first call's message. */
  duplicate: boolean;
  /** Recipients left out because they are on the suppression list. */
  suppressed: string[];
}

export interface MessageDeps {
  db: Db;
  /** Where the send job goes: the runtime's queue and service lookup (so the jobs service's settings apply). */
  jobs: EnqueueTarget;
  config: Readonly<EmailConfig>;
  renderer: Renderer;
  publicUrl: string;
  unsubscribeKey: Buffer;
  attachments: AttachmentSource | undefined;
}

const MAX_SUBJECT = 2000;
const MAX_HTML = 1024 * 1024;
const MAX_TEXT = 512 * 1024;
const KEY = /^[a-z0-9][a-z0-9_.-]{0,99}$/;
const CATEGORY = /^[a-z0-9][a-z0-9_.:-]{0,99}$/;

function mailboxes(list: readonly string[] | null | undefined, field: string): string[] {
  return (list ?? []).map((raw, i) => {
    const m = parseMailbox(raw);
    if (!m) throw emailError('email/invalid-address', `${field}[${i}] is not one valid email address`, { field, index: i });
    return formatMailbox(m);
  });
}

const addressOf = (mailbox: string) => normalizeAddress(parseMailbox(mailbox)!.address);

/** Resolves content: a stored template (rendered inside its layout) or the subject/html/text given. */
export async function renderContent(
  deps: Pick<MessageDeps, 'db' | 'config' | 'renderer'>,
  input: Pick<SendInput, 'template' | 'locale' | 'subject' | 'html' | 'text' | 'data'>,
  extras: { unsubscribeUrl?: string | null } = {},
  db: Queryable = deps.db,
): Promise<{ rendered: Rendered; locale: string | null; template: { key: string; transactional: boolean; category: string | null } | null }> {
  const data = input.data ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) throw emailError('email/invalid-input', 'data must be an object');
  if (input.template != null) {
    if (input.subject != null || input.html != null || input.text != null) throw emailError('email/invalid-input', 'give a template or subject/html/text, not both');
    if (!KEY.test(input.template)) throw emailError('email/unknown-template', `no template "${input.template.slice(0, 100)}"`);
    const chain = localeChain(input.locale, deps.config.EMAIL_DEFAULT_LOCALE);
    const t = await findTemplate(db, input.template, chain);
    if (!t) throw emailError('email/unknown-template', `no template "${input.template}" in ${chain.join(', ')}`, { template: input.template, locales: chain });
    const layout = t.layout ? await findLayout(db, t.layout, localeChain(t.locale, deps.config.EMAIL_DEFAULT_LOCALE)) : null;
    if (t.layout && !layout) throw emailError('email/unknown-layout', `template "${t.key}" uses layout "${t.layout}", which does not exist`);
    try {
      const rendered = deps.renderer.render(t, layout, data, { ...extras, locale: t.locale });
      return { rendered, locale: t.locale, template: { key: t.key, transactional: t.transactional, category: t.category } };
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      if (e.kind === 'variables') throw emailError('email/invalid-variables', `${e.message}: ${e.issues.join('; ')}`, { issues: e.issues });
      throw emailError('email/invalid-template', e.message);
    }
  }
  if (input.subject == null || (input.html == null && input.text == null)) throw emailError('email/content-required');
  if (input.subject.length === 0 || input.subject.length > MAX_SUBJECT) throw emailError('email/invalid-input', `subject must be 1–${MAX_SUBJECT} characters`);
  if ((input.html?.length ?? 0) > MAX_HTML) throw emailError('email/invalid-input', `html must be at most ${MAX_HTML} characters`);
  if ((input.text?.length ?? 0) > MAX_TEXT) throw emailError('email/invalid-input', `text must be at most ${MAX_TEXT} characters`);
  return { rendered: renderDirect(input.subject, input.html ?? null, input.text ?? null), locale: null, template: null };
}

function requestHash(input: SendInput): string {
  const { idempotencyKey: _k, ...rest } = input;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

async function existing(db: Queryable, key: string, hash: string): Promise<QueuedMessage | null> {
  const r = await db.query<{ id: string; status: MessageStatus; suppressed: string[]; request_hash: string | null }>(
    'select id, status, suppressed, request_hash from email.message where idempotency_key = $1',
    [key],
  );
  const row = r.rows[0];
  if (!row) return null;
  if (row.request_hash !== null && row.request_hash !== hash) throw emailError('email/idempotency-conflict');
  return { id: row.id, status: row.status, duplicate: true, suppressed: row.suppressed };
}

async function checkAttachments(deps: MessageDeps, list: SendInput['attachments']): Promise<Array<AttachmentInfo>> {
  if (!list?.length) return [];
  if (list.length > 20) throw emailError('email/invalid-input', 'at most 20 attachments');
  if (!deps.attachments) throw emailError('email/attachments-unavailable');
  const { found, missing } = await deps.attachments.describe(list.map((a) => a.fileId));
  if (missing.length) throw emailError('email/attachment-not-found', `no readable file ${missing[0]}`, { fileIds: missing });
  const total = found.reduce((s, f) => s + f.size, 0);
  if (total > deps.config.EMAIL_MAX_ATTACHMENT_BYTES) {
    throw emailError('email/attachments-too-large', `attachments total ${total} bytes; the limit is ${deps.config.EMAIL_MAX_ATTACHMENT_BYTES}`);
  }
  return found.map((f, i) => {
    const name = list[i]!.filename?.trim();
    if (name && (name.length > 255 || /[\u0000-\u001f\u007f/\\]/.test(name))) throw emailError('email/invalid-input', `attachments[${i}].filename is not a valid file name`);
    return { ...f, filename: name || f.filename };
  });
}

export async function queueMessage(deps: MessageDeps, input: SendInput): Promise<QueuedMessage> {
  const { config, db } = deps;
  const key = input.idempotencyKey ?? null;
  if (key !== null && (key.length === 0 || key.length > 255)) throw emailError('email/invalid-input', 'idempotencyKey must be 1–255 characters');
  const hash = requestHash(input);
  if (key !== null) {
    const prior = await existing(db, key, hash);
    if (prior) return prior;
  }

  const to = mailboxes(input.to, 'to');
  const cc = mailboxes(input.cc, 'cc');
  const bcc = mailboxes(input.bcc, 'bcc');
  if (to.length === 0) throw emailError('email/invalid-input', 'to needs at least one address');
  if (to.length + cc.length + bcc.length > config.EMAIL_MAX_RECIPIENTS) {
    throw emailError('email/too-many-recipients', `at most ${config.EMAIL_MAX_RECIPIENTS} recipients per message`);
  }
  const from = mailboxes([input.from ?? config.EMAIL_FROM], 'from')[0]!;
  const replyTo = input.replyTo ?? config.EMAIL_REPLY_TO ?? null;
  const replyToBox = replyTo === null ? null : mailboxes([replyTo], 'replyTo')[0]!;
  if (input.category != null && !CATEGORY.test(input.category)) throw emailError('email/invalid-input', 'category must be lower-case letters, digits and _ . : -');
  const metadata = input.metadata ?? {};
  if (typeof metadata !== 'object' || Array.isArray(metadata) || JSON.stringify(metadata).length > 16_384) {
    throw emailError('email/invalid-input', 'metadata must be an object of at most 16 KB');
  }

  const id = randomUUID();
  // The template decides transactional/category unless the caller does; both are known only after the lookup,
  // and the unsubscribe link goes into the rendered body, so a non-transactional template renders twice.
  let { rendered, locale, template } = await renderContent(deps, input);
  const transactional = input.transactional ?? template?.transactional ?? true;
  const category = input.category ?? template?.category ?? (transactional ? null : 'general');
  let headers: Record<string, string> = {};
  if (!transactional) {
    if (to.length !== 1 || cc.length || bcc.length) {
      throw emailError('email/invalid-input', 'non-transactional mail goes to one recipient per message (its unsubscribe link is personal)');
    }
    const token = signUnsubscribe(deps.unsubscribeKey, { address: addressOf(to[0]!), category: category!, messageId: id });
    const url = unsubscribeUrl(deps.publicUrl, token);
    headers = listUnsubscribeHeaders(url, config.EMAIL_UNSUBSCRIBE_MAILTO);
    if (template) ({ rendered } = await renderContent(deps, input, { unsubscribeUrl: url }));
  }
  const attachments = await checkAttachments(deps, input.attachments);

  // One statement: the suppression list is read and the recipients on it are left out as the row is written
  // (each recipient travels as its mailbox and its normalized address).
  const boxes = [...to.map((m) => ['to', m] as const), ...cc.map((m) => ['cc', m] as const), ...bcc.map((m) => ['bcc', m] as const)];
  // Named: parsed and planned once per connection, not per message.
  const inserted = await db.pool.query<{ id: string; status: MessageStatus; suppressed: string[] }>({
    name: 'email_insert_message',
    text: `with r as (select * from unnest($17::text[], $18::text[], $19::text[]) as r(kind, mailbox, address)),
          sup as (select coalesce(array_agg(distinct address), '{}') as list from email.suppression
                   where address in (select address from r) and (scope = '*' or (not $15::boolean and scope = $14))),
          keep as (select kind, mailbox from r, sup where r.address <> all (sup.list))
     insert into email.message (id, idempotency_key, request_hash, status, transport, to_addresses, cc_addresses, bcc_addresses,
                                from_address, reply_to, subject, html, text, headers, attachments, template_key, locale,
                                category, transactional, suppressed, metadata)
     select $1, $2, $3, case when exists (select 1 from keep) then 'queued' else 'suppressed' end, $4,
            array(select mailbox from keep where kind = 'to'), array(select mailbox from keep where kind = 'cc'),
            array(select mailbox from keep where kind = 'bcc'), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, sup.list, $16
       from sup
     on conflict (idempotency_key) do nothing returning id, status, suppressed`,
    values: [
      id, key, key === null ? null : hash, config.EMAIL_TRANSPORT, from, replyToBox,
      rendered.subject, rendered.html, rendered.text, JSON.stringify(headers),
      JSON.stringify(attachments.map((a) => ({ fileId: a.fileId, filename: a.filename, contentType: a.contentType, size: a.size }))),
      template?.key ?? null, locale, category, transactional, JSON.stringify(metadata),
      boxes.map(([k]) => k), boxes.map(([, m]) => m), boxes.map(([, m]) => addressOf(m)),
    ],
  });
  if (!inserted.rows.length) {
    // Another request with the same key won the race.
    const prior = await existing(db, key!, hash);
    if (prior) return prior;
  }
  const row = inserted.rows[0]!;
  if (row.status === 'queued') await enqueueSend(deps, id);
  return { id, status: row.status, duplicate: false, suppressed: row.suppressed };
}

/** The job id is the message id: enqueueing the same message again (the requeue cron) adds nothing. */
export function enqueueSend(deps: Pick<MessageDeps, 'jobs' | 'config'>, id: string) {
  return sendEmailJob.enqueue(deps.jobs, { messageId: id }, {
    jobId: `email-${id}`,
    attempts: deps.config.EMAIL_SEND_ATTEMPTS,
    backoffMs: deps.config.EMAIL_SEND_BACKOFF_MS,
  });
}
