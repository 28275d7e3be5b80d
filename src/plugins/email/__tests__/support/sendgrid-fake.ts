/**
 * A strict fake of SendGrid's v3 Mail Send API: it refuses what SendGrid refuses (a missing or wrong API key
 * with 401, a non-JSON content type, missing personalizations/from/subject/content, invalid addresses, empty
 * content values, a body over 30 MB, reserved headers, non-string custom args) with SendGrid's error shape,
 * and answers an accepted message with 202 and an X-Message-Id. `failNext` plays an outage (500s).
 */
import { randomBytes } from 'node:crypto';
import { EMAIL, HttpFake, json, type FakeReply, type FakeRequest } from './http-fake.js';

const RESERVED = ['x-sg-id', 'x-sg-eid', 'received', 'dkim-signature', 'content-type', 'content-transfer-encoding', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc'];

export interface SentViaSendgrid {
  messageId: string;
  body: Record<string, any>;
}

export class SendgridFake extends HttpFake {
  readonly sent: SentViaSendgrid[] = [];
  failNext = 0;

  constructor(readonly apiKey = 'SG.test-key-0123456789') {
    super((req) => this.#handle(req));
  }

  #error(status: number, message: string, field?: string): FakeReply {
    return { status, body: { errors: [{ message, field: field ?? null, help: null }] } };
  }

  #handle(req: FakeRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== '/v3/mail/send') return this.#error(404, 'not found');
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return this.#error(401, 'The provided authorization grant is invalid, expired, or revoked');
    if (!String(req.headers['content-type']).startsWith('application/json')) return this.#error(415, 'Content-Type should be application/json.');
    if (req.body.length > 30 * 1024 * 1024) return this.#error(413, 'The JSON payload you have included in your request is too large.');
    if (this.failNext > 0) {
      this.failNext--;
      return this.#error(500, 'internal error');
    }
    const b = json(req) as Record<string, any> | undefined;
    if (!b || typeof b !== 'object') return this.#error(400, 'Bad Request', null as never);
    const p = b.personalizations;
    if (!Array.isArray(p) || p.length === 0) return this.#error(400, 'The personalizations field is required and must have at least one personalization.', 'personalizations');
    for (const [i, x] of p.entries()) {
      if (!Array.isArray(x.to) || x.to.length === 0) return this.#error(400, 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.', `personalizations.${i}.to`);
      for (const list of ['to', 'cc', 'bcc']) for (const r of x[list] ?? []) if (!EMAIL.test(r?.email ?? '')) return this.#error(400, 'Does not contain a valid address.', `personalizations.${i}.${list}`);
      if (x.custom_args && Object.values(x.custom_args).some((v) => typeof v !== 'string')) return this.#error(400, 'Custom args values must be strings.', 'custom_args');
    }
    if (!b.from || !EMAIL.test(b.from.email ?? '')) return this.#error(400, 'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.', 'from.email');
    if (!b.subject && !p.every((x: any) => x.subject) && !b.template_id) return this.#error(400, 'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.', 'subject');
    if (!b.template_id && (!Array.isArray(b.content) || b.content.length === 0)) return this.#error(400, 'Unless a valid template_id is provided, the content parameter is required.', 'content');
    for (const c of b.content ?? []) if (typeof c.value !== 'string' || c.value.length === 0) return this.#error(400, 'The content value must be a string at least one character in length.', 'content.value');
    if (b.content?.length > 1 && b.content[0].type !== 'text/plain') return this.#error(400, 'If present, text/plain content must be first, followed by text/html.', 'content');
    for (const h of Object.keys(b.headers ?? {})) if (RESERVED.includes(h.toLowerCase())) return this.#error(400, `The header ${h} is reserved.`, 'headers');
    if (b.custom_args && Object.values(b.custom_args).some((v) => typeof v !== 'string')) return this.#error(400, 'Custom args values must be strings.', 'custom_args');
    for (const a of b.attachments ?? []) if (!a.filename || typeof a.content !== 'string' || !/^[A-Za-z0-9+/=]*$/.test(a.content)) return this.#error(400, 'The attachment content must be base64 encoded.', 'attachments.content');
    const messageId = randomBytes(11).toString('base64url');
    this.sent.push({ messageId, body: b });
    return { status: 202, headers: { 'x-message-id': messageId } };
  }
}
