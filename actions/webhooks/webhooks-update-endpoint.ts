import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEndpointResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { checkEventTypes, checkUrl } from '../../src/plugins/webhooks/lib/endpoints.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { ownedEndpoint, parseInput, updateEndpointInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksUpdateEndpoint: ActionHandler<unknown, WebhooksEndpointResult, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(updateEndpointInput, input);
  for (const [value, clear, name] of [
    [i.eventTypes, i.clearEventTypes, 'eventTypes'],
    [i.channels, i.clearChannels, 'channels'],
    [i.rateLimit, i.clearRateLimit, 'rateLimit'],
    [i.retrySchedule, i.clearRetrySchedule, 'retrySchedule'],
  ] as const) {
    if (value != null && clear) throw webhooksError('webhooks/invalid-input', `invalid input: ${name}: give it or clear it, not both`);
  }
  await ownedEndpoint(ctx.db, ctx.session, i.id);
  if (i.url != null) await checkUrl(ctx.config, i.url);
  await checkEventTypes(ctx.db, i.eventTypes);
  const sets: string[] = [];
  const params: unknown[] = [i.id];
  const set = (column: string, value: unknown, cast = '') => {
    params.push(value);
    sets.push(`${column} = $${params.length}${cast}`);
  };
  if (i.url != null) set('url', i.url);
  if (i.description != null) set('description', i.description);
  if (i.eventTypes != null || i.clearEventTypes) set('event_types', i.clearEventTypes ? null : i.eventTypes, '::text[]');
  if (i.channels != null || i.clearChannels) set('channels', i.clearChannels ? null : i.channels, '::text[]');
  if (i.headers != null) set('headers', JSON.stringify(i.headers), '::jsonb');
  if (i.rateLimit != null || i.clearRateLimit) set('rate_limit', i.clearRateLimit ? null : i.rateLimit);
  if (i.retrySchedule != null || i.clearRetrySchedule) set('retry_schedule', i.clearRetrySchedule || !i.retrySchedule?.length ? null : i.retrySchedule, '::int[]');
  if (i.fifo != null) set('fifo', i.fifo);
  if (i.enabled === true) sets.push('enabled = true, disabled_reason = null, disabled_at = null, failing_since = null');
  if (i.enabled === false) sets.push(`enabled = false, disabled_reason = 'disabled by its owner', disabled_at = now()`);
  const r = await ctx.db.tx(async (tx) => {
    const u = await tx.query<{ enabled: boolean }>(`update webhooks.endpoint set ${[...sets, 'updated_at = now()'].join(', ')} where id = $1 returning enabled`, params);
    if (i.enabled === false) {
      await tx.query(`update webhooks.delivery set status = 'skipped', last_error = 'endpoint disabled by its owner', updated_at = now() where endpoint_id = $1 and status = 'pending'`, [i.id]);
    }
    return u.rows[0]!;
  });
  return { endpointId: i.id, enabled: r.enabled, deleted: false };
};
