import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEndpointSecret } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { rotateSecret } from '../../src/plugins/webhooks/lib/endpoints.js';
import { ownedEndpoint, parseInput, rotateInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksRotateSecret: ActionHandler<unknown, WebhooksEndpointSecret, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(rotateInput, input);
  const e = await ownedEndpoint(ctx.db, ctx.session, i.id);
  return rotateSecret(ctx.db, e.id, i.signatureScheme ?? e.signature_scheme, i.graceSeconds ?? ctx.config.WEBHOOKS_SECRET_GRACE_SECONDS);
};
