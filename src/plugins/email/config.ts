import { z } from 'zod';
import { secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

const httpUrl = (def: string, description: string) =>
  z
    .string()
    .url()
    .refine((v) => /^https?:$/.test(new URL(v).protocol), { message: 'must be an http(s) URL' })
    .default(def)
    .describe(description);

export const EMAIL_TRANSPORTS = ['outbox', 'smtp', 'sendgrid', 'resend'] as const;
export type EmailTransportName = (typeof EMAIL_TRANSPORTS)[number];

/** Settings of the email plugin. The transport's own settings are required only with that transport. */
export const emailConfig = z
  .object({
    EMAIL_TRANSPORT: z
      .enum(EMAIL_TRANSPORTS)
      .default('outbox')
      .describe('Where mail goes: outbox (stored in email.message, readable by admins through GraphQL), smtp, sendgrid or resend.'),
    EMAIL_FROM: z.string().min(3).max(320).default('nself <no-reply@localhost>').describe('Default sender, "Name <address>" or an address.'),
    EMAIL_REPLY_TO: z.string().min(3).max(320).optional().describe('Default Reply-To address.'),
    EMAIL_DEFAULT_LOCALE: z.string().min(2).max(35).default('en').describe('Last locale of the template fallback chain (de-AT → de → this).'),
    EMAIL_SMTP_URL: secret(z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL'))
      .optional()
      .describe('SMTP server, smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465. Required with EMAIL_TRANSPORT=smtp.'),
    EMAIL_SMTP_POOL_SIZE: int(1, 100, 5, 'Pooled SMTP connections per replica.'),
    EMAIL_SMTP_MAX_MESSAGES: int(1, 100_000, 100, 'Messages sent over one SMTP connection before it is renewed.'),
    EMAIL_SMTP_TIMEOUT_MS: int(1000, 600_000, 30_000, 'SMTP connection, greeting and socket timeout.'),
    EMAIL_SMTP_TLS_REJECT_UNAUTHORIZED: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true')
      .describe('Refuse SMTP servers whose TLS certificate does not verify (false only for a relay on a private network).'),
    EMAIL_SENDGRID_API_KEY: secret(z.string().min(10)).optional().describe('SendGrid API key. Required with EMAIL_TRANSPORT=sendgrid.'),
    EMAIL_SENDGRID_API_URL: httpUrl('https://api.sendgrid.com', 'SendGrid API base URL (the EU region: https://api.eu.sendgrid.com).'),
    EMAIL_SENDGRID_WEBHOOK_PUBLIC_KEY: z
      .string()
      .min(40)
      .optional()
      .describe('Verification key of SendGrid\'s signed Event Webhook (base64). Without it /hooks/email/sendgrid answers 404.'),
    EMAIL_RESEND_API_KEY: secret(z.string().min(10)).optional().describe('Resend API key. Required with EMAIL_TRANSPORT=resend.'),
    EMAIL_RESEND_API_URL: httpUrl('https://api.resend.com', 'Resend API base URL.'),
    EMAIL_RESEND_WEBHOOK_SECRET: secret(z.string().regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'must be a whsec_… signing secret'))
      .optional()
      .describe('Signing secret of the Resend webhook (whsec_…). Without it /hooks/email/resend answers 404.'),
    EMAIL_WEBHOOK_TOLERANCE_SECONDS: int(10, 3600, 300, 'Provider webhook timestamps further than this from now are refused (replays).'),
    EMAIL_UNSUBSCRIBE_SECRET: secret(z.string().min(32, 'must be at least 32 characters'))
      .optional()
      .describe('Key of the signed unsubscribe links. Default: derived from NSELF_PLUGINS_WEBHOOK_SECRET.'),
    EMAIL_UNSUBSCRIBE_MAILTO: z.string().email().optional().describe('Also offered in List-Unsubscribe as a mailto: address.'),
    EMAIL_MAX_RECIPIENTS: int(1, 1000, 50, 'Most recipients (to + cc + bcc) of one message.'),
    EMAIL_MAX_ATTACHMENT_BYTES: int(0, 100 * 1024 * 1024, 10 * 1024 * 1024, 'Largest total size of a message\'s attachments.'),
    EMAIL_SEND_ATTEMPTS: int(1, 100, 12, 'Attempts per message before it is failed (exponential backoff between them).'),
    EMAIL_SEND_BACKOFF_MS: int(100, 3_600_000, 2000, 'Base delay of the retry backoff (doubles each attempt).'),
    EMAIL_MESSAGE_RETENTION_DAYS: int(0, 3650, 90, 'Days to keep email.message rows and their events (0: forever).'),
  })
  .superRefine((c, ctx) => {
    const need = (transport: string, key: keyof typeof c) => {
      if (c.EMAIL_TRANSPORT === transport && c[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `is required with EMAIL_TRANSPORT=${transport}` });
    };
    need('smtp', 'EMAIL_SMTP_URL');
    need('sendgrid', 'EMAIL_SENDGRID_API_KEY');
    need('resend', 'EMAIL_RESEND_API_KEY');
  });

export type EmailConfig = z.infer<typeof emailConfig>;
