/**
 * The email plugin's public API for other plugins:
 *
 *   import { emailService } from '<path>/plugins/email/index.js';
 *   const { id, status } = await ctx.service(emailService).send({ to: [address], template: 'welcome', locale, data });
 *
 * (the plugin must list `email` in `dependsOn`).
 */
export { emailService } from './lib/service.js';
export type { EmailApi, EmailPreview } from './lib/service.js';
export type { SendInput, QueuedMessage, MessageStatus } from './lib/messages.js';
export type { AttachmentSource, AttachmentInfo, FileRow, OpenObject } from './lib/attachments.js';
export type { EmailConfig } from './config.js';
export { sendEmailJob } from './lib/send-job.js';
