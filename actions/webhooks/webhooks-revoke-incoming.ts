import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksRevokeResult } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { idInput, isBackend, parseInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksRevokeIncoming: ActionHandler<unknown, WebhooksRevokeResult, WebhooksConfig> = async (input, ctx) => {
  const { id } = parseInput(idInput, input);
  const r = await ctx.db.query<{ owner_id: string; revoked_at: Date | null }>('select owner_id, revoked_at from webhooks.incoming where id = $1', [id]);
  const row = r.rows[0];
  if (!row || (!isBackend(ctx.session) && row.owner_id !== ctx.session.userId)) throw webhooksError('webhooks/incoming-not-found');
  await ctx.db.query('update webhooks.incoming set revoked_at = coalesce(revoked_at, now()) where id = $1', [id]);
  return { incomingId: id, revoked: true };
};
