import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksMessageResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { ownedEndpoint, parseInput, resendInput } from '../../src/plugins/webhooks/lib/input.js';
import { scheduleDelivery } from '../../src/plugins/webhooks/lib/jobs.js';

/** Starts the delivery over (a fresh retry schedule); a delivery being sent right now is left to finish. */
export const webhooksResend: ActionHandler<unknown, WebhooksMessageResult, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(resendInput, input);
  const e = await ownedEndpoint(ctx.db, ctx.session, i.endpointId);
  if (!e.enabled) throw webhooksError('webhooks/endpoint-disabled', 'the endpoint is disabled: enable it first');
  const r = await ctx.db.query<{ id: string; attempts: number; status: string }>(
    `update webhooks.delivery set status = case when status = 'sending' then status else 'pending' end,
            step = case when status = 'sending' then step else 0 end, next_attempt_at = now(), updated_at = now()
      where message_id = $1 and endpoint_id = $2 returning id, attempts, status`,
    [i.messageId, e.id],
  );
  let row = r.rows[0];
  if (!row) {
    // Not sent to this endpoint before (it was created later, or filtered the type out then): a first delivery.
    const m = await ctx.db.query<{ seq: string; ordering_key: string | null }>('select seq, ordering_key from webhooks.message where id = $1 and (test_endpoint_id is null or test_endpoint_id = $2)', [i.messageId, e.id]);
    if (!m.rows[0]) throw webhooksError('webhooks/message-not-found');
    const d = await ctx.db.query<{ id: string; attempts: number; status: string }>(
      `insert into webhooks.delivery (message_id, endpoint_id, ordering_key, message_seq) values ($1, $2, $3, $4)
       on conflict (message_id, endpoint_id) do update set updated_at = now() returning id, attempts, status`,
      [i.messageId, e.id, m.rows[0].ordering_key, m.rows[0].seq],
    );
    row = d.rows[0]!;
  }
  if (row.status === 'pending') await scheduleDelivery(ctx, row.id, row.attempts, 0, `s${Date.now()}`);
  return { messageId: i.messageId, deliveryId: row.id };
};
