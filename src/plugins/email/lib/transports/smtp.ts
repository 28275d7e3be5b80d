/**
 * SMTP through nodemailer's pooled transport: a few long-lived connections (STARTTLS when the server offers it),
 * each renewed after EMAIL_SMTP_MAX_MESSAGES. Attachments are streamed, never held whole in memory.
 *
 * SMTP has no idempotency key. The Message-ID is the message's own id on every attempt, so a retry after an
 * interrupted attempt carries the same Message-ID (mailbox providers such as Gmail collapse those), but a relay
 * that accepted the first attempt and lost our acknowledgement can deliver twice.
 */
import nodemailer from 'nodemailer';
import type { EmailConfig } from '../../config.js';
import { TransportError, domainOf, type EmailTransport } from './types.js';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  rejected?: string[];
}

export function classifySmtpError(e: SmtpError): TransportError {
  const rc = e.responseCode;
  // 5xx replies are permanent by RFC 5321 (4xx and 421 are transient); no reply at all is a network problem.
  const permanent = rc !== undefined && rc >= 500 && rc < 600 && e.code !== 'EAUTH';
  return new TransportError(`smtp: ${e.message}`, !permanent, rc, e.rejected ?? []);
}

export function smtpTransport(config: EmailConfig): EmailTransport {
  const transporter = nodemailer.createTransport({
    url: config.EMAIL_SMTP_URL!,
    pool: true,
    maxConnections: config.EMAIL_SMTP_POOL_SIZE,
    maxMessages: config.EMAIL_SMTP_MAX_MESSAGES,
    connectionTimeout: config.EMAIL_SMTP_TIMEOUT_MS,
    greetingTimeout: config.EMAIL_SMTP_TIMEOUT_MS,
    socketTimeout: config.EMAIL_SMTP_TIMEOUT_MS,
    tls: { rejectUnauthorized: config.EMAIL_SMTP_TLS_REJECT_UNAUTHORIZED },
  } as Parameters<typeof nodemailer.createTransport>[0]);
  return {
    name: 'smtp',
    async send(m) {
      const attachments = await Promise.all(m.attachments.map(async (a) => ({ filename: a.filename, contentType: a.contentType, content: await a.open() })));
      try {
        const info = await transporter.sendMail({
          from: m.from,
          to: m.to,
          cc: m.cc,
          bcc: m.bcc,
          ...(m.replyTo ? { replyTo: m.replyTo } : {}),
          subject: m.subject,
          text: m.text,
          ...(m.html !== null ? { html: m.html } : {}),
          headers: m.headers,
          messageId: `<${m.id}@${domainOf(m.from)}>`,
          attachments,
        });
        const rejected = ((info.rejected ?? []) as Array<string | { address: string }>).map((r) => (typeof r === 'string' ? r : r.address));
        return { providerMessageId: info.messageId ?? null, rejected };
      } catch (e) {
        for (const a of attachments) a.content.destroy();
        throw classifySmtpError(e as SmtpError);
      }
    },
    close() {
      transporter.close();
    },
  };
}
