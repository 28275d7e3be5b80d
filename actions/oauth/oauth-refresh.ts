import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { opaque, parseInput } from '../../src/plugins/oauth/lib/input.js';
import { oauthCore } from '../../src/plugins/oauth/lib/service.js';

const input = z.object({ refreshToken: opaque });

export const oauthRefresh: ActionHandler<unknown, unknown, OAuthConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const tokens = ctx.service(oauthCore).tokens;
  if (!tokens) throw oauthError('oauth/invalid-refresh-token');
  const s = await tokens.refresh(ctx.db, i.refreshToken);
  return {
    accessToken: s.accessToken,
    refreshToken: s.refreshToken,
    expiresIn: s.expiresIn,
    user: { id: s.user.id, email: s.user.email, displayName: s.user.display_name, avatarUrl: s.user.avatar_url },
    created: false,
    linked: false,
  };
};
