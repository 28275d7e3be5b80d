import type { EventHandler } from '../../src/core/plugin.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { webhooksEmitter } from '../../src/plugins/webhooks/lib/service.js';

/**
 * Serves every table → event mapping (`install webhooks --map nchat_messages:insert=message.created`): a row
 * change of a mapped table emits each mapped event with the row as its data (the new row; the old one for a
 * delete). The Hasura event id is the idempotency key, so a redelivered event sends nothing twice.
 */
export const webhooksMapRow: EventHandler<Record<string, unknown>, WebhooksConfig> = async (event, ctx) => {
  const op = event.event.op.toLowerCase();
  const mappings = ctx.config.WEBHOOKS_MAP.filter((m) => m.schema === event.table.schema && m.table === event.table.name && m.op === op);
  if (!mappings.length) return { skipped: `no mapping for ${op} on ${event.table.schema}.${event.table.name} (WEBHOOKS_MAP changed since the trigger was installed?)` };
  const row = op === 'delete' ? event.event.data.old : event.event.data.new;
  const emitter = ctx.service(webhooksEmitter);
  for (const m of mappings) {
    await emitter.emit({ type: m.type, payload: row ?? {}, idempotencyKey: `hasura:${event.id}:${m.type}` });
  }
};
