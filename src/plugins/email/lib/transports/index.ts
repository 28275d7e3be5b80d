import type { EmailConfig } from '../../config.js';
import { outboxTransport } from './outbox.js';
import type { EmailTransport } from './types.js';

/**
 * The configured transport. Providers' SDKs (nodemailer, SendGrid's client) load only when chosen: the
 * outbox is the embedded default and a process should not pay at start for the others.
 */
export async function createTransport(config: EmailConfig): Promise<EmailTransport> {
  switch (config.EMAIL_TRANSPORT) {
    case 'smtp':
      return (await import('./smtp.js')).smtpTransport(config);
    case 'sendgrid':
      return (await import('./sendgrid.js')).sendgridTransport(config, config.EMAIL_MAX_ATTACHMENT_BYTES);
    case 'resend':
      return (await import('./resend.js')).resendTransport(config, config.EMAIL_MAX_ATTACHMENT_BYTES);
    default:
      return outboxTransport();
  }
}

export * from './types.js';
