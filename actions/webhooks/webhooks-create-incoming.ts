import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksIncomingResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { createIncoming } from '../../src/plugins/webhooks/lib/incoming.js';
import { createIncomingInput, ownerFor, parseInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksCreateIncoming: ActionHandler<unknown, WebhooksIncomingResult, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(createIncomingInput, input);
  const ownerId = ownerFor(ctx.session, i.ownerId);
  return createIncoming(ctx.db, ctx.core.PUBLIC_URL, { ownerId, name: i.name, rateLimit: i.rateLimit ?? ctx.config.WEBHOOKS_INCOMING_RATE_LIMIT });
};
