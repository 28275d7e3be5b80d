import type { EmailConfig } from '../../config.js';
import { outboxTransport } from './outbox.js';
import { resendTransport } from './resend.js';
import { sendgridTransport } from './sendgrid.js';
import { smtpTransport } from './smtp.js';
import type { EmailTransport } from './types.js';

export function createTransport(config: EmailConfig): EmailTransport {
  switch (config.EMAIL_TRANSPORT) {
    case 'smtp':
      return smtpTransport(config);
    case 'sendgrid':
      return sendgridTransport(config, config.EMAIL_MAX_ATTACHMENT_BYTES);
    case 'resend':
      return resendTransport(config, config.EMAIL_MAX_ATTACHMENT_BYTES);
    default:
      return outboxTransport();
  }
}

export * from './types.js';
