import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksMessageResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { emit } from '../../src/plugins/webhooks/lib/emit.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { ownedEndpoint, parseInput, sendTestInput } from '../../src/plugins/webhooks/lib/input.js';
import { emitDepsOf } from '../../src/plugins/webhooks/lib/service.js';

export const TEST_EVENT_TYPE = 'webhook.test';

/** Sends the event type's example (the catalogue's) to this endpoint alone, through the normal delivery path. */
export const webhooksSendTest: ActionHandler<unknown, WebhooksMessageResult, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(sendTestInput, input);
  const e = await ownedEndpoint(ctx.db, ctx.session, i.id);
  if (!e.enabled) throw webhooksError('webhooks/endpoint-disabled', 'the endpoint is disabled: enable it first');
  const type = i.eventType ?? TEST_EVENT_TYPE;
  const t = await ctx.db.query<{ example: unknown }>('select example from webhooks.event_type where name = $1 and not archived', [type]);
  if (!t.rows[0]) throw webhooksError('webhooks/unknown-event-type', `no event type "${type}"`);
  const r = await emit(emitDepsOf(ctx), { type, payload: t.rows[0].example ?? {} }, { testEndpointId: e.id });
  const d = await ctx.db.query<{ id: string }>('select id from webhooks.delivery where message_id = $1', [r.messageId]);
  return { messageId: r.messageId, deliveryId: d.rows[0]?.id ?? null };
};
