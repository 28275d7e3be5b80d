import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEmitResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { webhooksEmitter } from '../../src/plugins/webhooks/lib/service.js';

/** The service's emit for backends that speak GraphQL; input checks and errors are the service's. */
export const webhooksEmit: ActionHandler<unknown, WebhooksEmitResult, WebhooksConfig> = async (input, ctx) => {
  return ctx.service(webhooksEmitter).emit(input as never);
};
