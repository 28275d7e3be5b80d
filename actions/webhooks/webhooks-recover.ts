import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksRecoverResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { parseHasuraTimestamp } from '../../src/core/hasura-time.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { ownedEndpoint, parseInput, recoverInput } from '../../src/plugins/webhooks/lib/input.js';
import { scheduleDelivery } from '../../src/plugins/webhooks/lib/jobs.js';

/** Every failed or skipped delivery to the endpoint of a message created since `since` starts over. */
export const webhooksRecover: ActionHandler<unknown, WebhooksRecoverResult, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(recoverInput, input);
  const e = await ownedEndpoint(ctx.db, ctx.session, i.endpointId);
  if (!e.enabled) throw webhooksError('webhooks/endpoint-disabled', 'the endpoint is disabled: enable it first');
  const since = parseHasuraTimestamp(i.since)!;
  const r = await ctx.db.query<{ id: string; attempts: number }>(
    `update webhooks.delivery d set status = 'pending', step = 0, next_attempt_at = now(), updated_at = now()
       from webhooks.message m
      where m.id = d.message_id and d.endpoint_id = $1 and d.status in ('failed', 'skipped') and m.created_at >= $2
      returning d.id, d.attempts`,
    [e.id, since],
  );
  const tag = `r${Date.now()}`;
  for (const d of r.rows) await scheduleDelivery(ctx, d.id, d.attempts, 0, tag);
  return { recovered: r.rows.length };
};
