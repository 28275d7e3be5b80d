import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { isUuid, opaque, parseInput } from '../../src/plugins/oauth/lib/input.js';
import { sha256 } from '../../src/plugins/oauth/lib/tokens.js';

/** Sessions ended: a family's used tokens are revoked too (a later replay then finds nothing), but not counted. */
const live = (rows: { live: boolean }[]) => rows.filter((r) => r.live).length;

const input = z.object({ refreshToken: opaque.nullish(), all: z.boolean().nullish() });

export const oauthSignOut: ActionHandler<unknown, unknown, OAuthConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const userId = ctx.session.userId;
  if (!isUuid(userId)) throw oauthError('oauth/no-user');
  if (i.all) {
    const r = await ctx.db.query<{ live: boolean }>(
      `UPDATE oauth.refresh_token SET revoked_at = now(), revoke_reason = 'sign-out-all' WHERE user_id = $1 AND revoked_at IS NULL RETURNING used_at IS NULL AS live`,
      [userId],
    );
    return { revoked: live(r.rows) };
  }
  if (!i.refreshToken) throw oauthError('oauth/invalid-input', 'give refreshToken, or all: true');
  // Only a family of the caller's own: another user's token revokes nothing (and says nothing about it).
  const r = await ctx.db.query<{ live: boolean }>(
    `UPDATE oauth.refresh_token SET revoked_at = now(), revoke_reason = 'sign-out'
      WHERE revoked_at IS NULL AND user_id = $2
        AND family_id = (SELECT family_id FROM oauth.refresh_token WHERE token_hash = $1 AND user_id = $2)
      RETURNING used_at IS NULL AS live`,
    [sha256(i.refreshToken), userId],
  );
  return { revoked: live(r.rows) };
};
