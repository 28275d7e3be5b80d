import type { ActionHandler } from '../../src/core/plugin.js';
import type { EmailConfig } from '../../src/plugins/email/config.js';
import { parseInput, previewInput } from '../../src/plugins/email/lib/input.js';
import { emailService } from '../../src/plugins/email/lib/service.js';
import type { EmailPreview } from '../../src/generated/actions.js';

/** Renders a template (or the content given) as emailSend would, without storing or sending anything. */
export const emailPreview: ActionHandler<unknown, EmailPreview, EmailConfig> = async (input, ctx) => {
  const r = await ctx.service(emailService).preview(parseInput(previewInput, input));
  return { subject: r.subject, html: r.html, text: r.text, locale: r.locale };
};
