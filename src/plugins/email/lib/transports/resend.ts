/**
 * Resend through its own client. The message id is the Idempotency-Key, so an attempt repeated after a crash
 * (the provider accepted, we never recorded it) returns the first send instead of mailing twice.
 */
import { Resend } from 'resend';
import type { EmailConfig } from '../../config.js';
import { classifyHttpStatus } from './sendgrid.js';
import { readAll, TransportError, type EmailTransport } from './types.js';

export function resendTransport(config: EmailConfig, maxAttachmentBytes: number): EmailTransport {
  const client = new Resend(config.EMAIL_RESEND_API_KEY!, { baseUrl: config.EMAIL_RESEND_API_URL.replace(/\/+$/, '') });
  return {
    name: 'resend',
    async send(m) {
      const attachments = await Promise.all(
        m.attachments.map(async (a) => ({
          filename: a.filename,
          contentType: a.contentType,
          content: (await readAll(await a.open(), maxAttachmentBytes)).toString('base64'),
        })),
      );
      const payload = {
        from: m.from,
        to: m.to,
        ...(m.cc.length ? { cc: m.cc } : {}),
        ...(m.bcc.length ? { bcc: m.bcc } : {}),
        ...(m.replyTo ? { replyTo: m.replyTo } : {}),
        subject: m.subject,
        text: m.text,
        ...(m.html !== null ? { html: m.html } : {}),
        ...(Object.keys(m.headers).length ? { headers: m.headers } : {}),
        ...(attachments.length ? { attachments } : {}),
        tags: [{ name: 'nself_message_id', value: m.id }, ...(m.category ? [{ name: 'category', value: m.category.replace(/[^A-Za-z0-9_-]/g, '_') }] : [])],
      };
      const { data, error } = await client.emails.send(payload as Parameters<typeof client.emails.send>[0], { idempotencyKey: m.id });
      if (error) {
        const status = (error as { statusCode?: number | null }).statusCode ?? undefined;
        throw classifyHttpStatus('resend', status ?? undefined, `${error.name}: ${error.message}`);
      }
      if (!data?.id) throw new TransportError('resend: the answer carries no id', true);
      return { providerMessageId: data.id };
    },
    close() {},
  };
}
