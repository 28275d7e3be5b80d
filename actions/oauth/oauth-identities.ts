import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { isUuid } from '../../src/plugins/oauth/lib/input.js';

export const oauthIdentities: ActionHandler<unknown, unknown, OAuthConfig> = async (_input, ctx) => {
  const userId = ctx.session.userId;
  if (!isUuid(userId)) throw oauthError('oauth/no-user');
  const r = await ctx.db.query<{ id: string; provider: string; email: string | null; email_verified: boolean; name: string | null; avatar_url: string | null; created_at: Date; last_sign_in_at: Date }>(
    'SELECT id::text, provider, email, email_verified, name, avatar_url, created_at, last_sign_in_at FROM oauth.identity WHERE user_id = $1 ORDER BY created_at, id',
    [userId],
  );
  return r.rows.map((x) => ({
    id: x.id,
    provider: x.provider,
    email: x.email,
    emailVerified: x.email_verified,
    name: x.name,
    avatarUrl: x.avatar_url,
    createdAt: x.created_at.toISOString(),
    lastSignInAt: x.last_sign_in_at.toISOString(),
  }));
};
