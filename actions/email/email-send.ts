import type { ActionHandler } from '../../src/core/plugin.js';
import type { EmailConfig } from '../../src/plugins/email/config.js';
import { parseInput, sendInput } from '../../src/plugins/email/lib/input.js';
import { emailService } from '../../src/plugins/email/lib/service.js';
import type { EmailSendResult } from '../../src/generated/actions.js';

/** Stores, renders and queues one message; the same idempotency key returns the first call's message. */
export const emailSend: ActionHandler<unknown, EmailSendResult, EmailConfig> = async (input, ctx) => {
  const args = parseInput(sendInput, input);
  const r = await ctx.service(emailService).send(args);
  return { messageId: r.id, status: r.status, duplicate: r.duplicate, suppressed: r.suppressed };
};
