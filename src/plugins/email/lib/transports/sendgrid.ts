/**
 * SendGrid's v3 Mail Send API through its own client (@sendgrid/mail), one client per transport (never the
 * module's shared instance). The message id travels as a custom argument, so the signed Event Webhook's
 * events find their message even before the provider id is stored.
 */
import sgMail, { type MailDataRequired } from '@sendgrid/mail';
import type { EmailConfig } from '../../config.js';
import { mailboxObject } from '../address.js';
import { readAll, TransportError, type EmailTransport } from './types.js';

interface SendGridClient {
  setApiKey(key: string): void;
  setTimeout(ms: number): void;
  send(data: MailDataRequired): Promise<[{ statusCode: number; headers: Record<string, unknown> }, unknown]>;
  client: { setDefaultRequest(key: string, value: unknown): void };
}
// The package's default export is a shared instance; its class makes one client per transport.
const { MailService } = sgMail as unknown as { MailService: new () => SendGridClient };

interface SendGridError extends Error {
  code?: number;
  response?: { body?: { errors?: Array<{ message?: string; field?: string }> } };
}

export function classifyHttpStatus(provider: string, status: number | undefined, message: string): TransportError {
  // No status: the request never got an answer. 408/429/5xx are transient; 401/403 mean a key an operator
  // can still fix, so the message waits for it instead of failing at once.
  const retryable = status === undefined || status === 408 || status === 409 || status === 429 || status === 401 || status === 403 || status >= 500;
  return new TransportError(`${provider}: ${message}`, retryable, status);
}

export function sendgridTransport(config: EmailConfig, maxAttachmentBytes: number): EmailTransport {
  const client = new MailService();
  client.setApiKey(config.EMAIL_SENDGRID_API_KEY!);
  // After setApiKey, which resets the base URL.
  client.client.setDefaultRequest('baseUrl', config.EMAIL_SENDGRID_API_URL.replace(/\/?$/, '/'));
  client.setTimeout(30_000);
  return {
    name: 'sendgrid',
    async send(m) {
      const attachments = await Promise.all(
        m.attachments.map(async (a) => ({
          filename: a.filename,
          type: a.contentType,
          disposition: 'attachment',
          content: (await readAll(await a.open(), maxAttachmentBytes)).toString('base64'),
        })),
      );
      try {
        const [res] = await client.send(<MailDataRequired>{
          // Objects, not strings: the client's own parsing of `"Name" <a@b>` keeps the quotes in the name.
          from: mailboxObject(m.from),
          to: m.to.map(mailboxObject),
          ...(m.cc.length ? { cc: m.cc.map(mailboxObject) } : {}),
          ...(m.bcc.length ? { bcc: m.bcc.map(mailboxObject) } : {}),
          ...(m.replyTo ? { replyTo: mailboxObject(m.replyTo) } : {}),
          subject: m.subject,
          text: m.text,
          ...(m.html !== null ? { html: m.html } : {}),
          ...(Object.keys(m.headers).length ? { headers: m.headers } : {}),
          ...(attachments.length ? { attachments } : {}),
          ...(m.category ? { categories: [m.category] } : {}),
          customArgs: { nself_message_id: m.id },
        });
        const id = res.headers['x-message-id'];
        return { providerMessageId: typeof id === 'string' ? id : null };
      } catch (e) {
        const err = e as SendGridError;
        const detail = err.response?.body?.errors?.map((x) => `${x.field ? `${x.field}: ` : ''}${x.message}`).join('; ');
        throw classifyHttpStatus('sendgrid', typeof err.code === 'number' ? err.code : undefined, detail || err.message);
      }
    },
    close() {},
  };
}
