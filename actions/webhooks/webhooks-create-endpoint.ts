import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEndpointSecret } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { createEndpoint } from '../../src/plugins/webhooks/lib/endpoints.js';
import { createEndpointInput, ownerFor, parseInput } from '../../src/plugins/webhooks/lib/input.js';

/** Users create endpoints for themselves; a backend creates them for any owner (a customer's integration). */
export const webhooksCreateEndpoint: ActionHandler<unknown, WebhooksEndpointSecret, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(createEndpointInput, input);
  const ownerId = ownerFor(ctx.session, i.ownerId);
  return createEndpoint(ctx.db, ctx.config, {
    ownerId,
    url: i.url,
    description: i.description ?? '',
    eventTypes: i.eventTypes ?? null,
    channels: i.channels ?? null,
    headers: i.headers ?? {},
    rateLimit: i.rateLimit ?? null,
    retrySchedule: i.retrySchedule?.length ? i.retrySchedule : null,
    fifo: i.fifo ?? false,
    scheme: i.signatureScheme ?? 'v1',
  });
};
