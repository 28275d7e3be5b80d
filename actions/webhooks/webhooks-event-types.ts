import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEventType } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';

export const webhooksEventTypes: ActionHandler<unknown, WebhooksEventType[], WebhooksConfig> = async (_input, ctx) => {
  const r = await ctx.db.query<WebhooksEventType>('select name, description, schema, example from webhooks.event_type where not archived order by name');
  return r.rows;
};
