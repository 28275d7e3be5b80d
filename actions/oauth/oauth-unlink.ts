import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { isUuid, parseInput, uuid } from '../../src/plugins/oauth/lib/input.js';
import { oauthCore } from '../../src/plugins/oauth/lib/service.js';

const input = z.object({ identityId: uuid });

export const oauthUnlink: ActionHandler<unknown, unknown, OAuthConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const userId = ctx.session.userId;
  if (!isUuid(userId)) throw oauthError('oauth/no-user');
  const { nhost } = ctx.service(oauthCore);
  return ctx.db.tx(async (tx) => {
    // Lock every identity of the user so two unlinks at once cannot remove the last two.
    const mine = await tx.query<{ id: string }>('SELECT id::text FROM oauth.identity WHERE user_id = $1 ORDER BY id FOR UPDATE', [userId]);
    if (!mine.rows.some((r) => r.id === i.identityId)) throw oauthError('oauth/identity-not-found');
    if (mine.rows.length <= 1) throw oauthError('oauth/last-identity');
    const gone = await tx.query<{ provider: string; provider_user_id: string }>('DELETE FROM oauth.identity WHERE id = $1 AND user_id = $2 RETURNING provider, provider_user_id', [i.identityId, userId]);
    for (const row of gone.rows) await nhost?.unlink(tx, userId, row.provider, row.provider_user_id);
    return { id: i.identityId, unlinked: true };
  });
};
