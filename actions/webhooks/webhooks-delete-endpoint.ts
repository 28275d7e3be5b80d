import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEndpointResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { idInput, ownedEndpoint, parseInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksDeleteEndpoint: ActionHandler<unknown, WebhooksEndpointResult, WebhooksConfig> = async (input, ctx) => {
  const { id } = parseInput(idInput, input);
  await ownedEndpoint(ctx.db, ctx.session, id);
  const r = await ctx.db.query('delete from webhooks.endpoint where id = $1', [id]);
  return { endpointId: id, enabled: false, deleted: (r.rowCount ?? 0) > 0 };
};
