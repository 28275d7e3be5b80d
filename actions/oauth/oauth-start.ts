import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { startFlow } from '../../src/plugins/oauth/lib/flow.js';
import { isUuid, parseInput } from '../../src/plugins/oauth/lib/input.js';
import { isAllowedRedirect } from '../../src/plugins/oauth/lib/redirect.js';
import { oauthCore } from '../../src/plugins/oauth/lib/service.js';

const input = z.object({
  provider: z.string().min(1).max(64),
  redirectTo: z.string().min(1).max(2048),
  link: z.boolean().nullish(),
});

export const oauthStart: ActionHandler<unknown, unknown, OAuthConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const core = ctx.service(oauthCore);
  if (!core.providers.has(i.provider)) throw oauthError('oauth/unknown-provider', `provider "${i.provider}" is not enabled`);
  if (!isAllowedRedirect(i.redirectTo, core.allow)) throw oauthError('oauth/redirect-not-allowed');
  if (i.link && !isUuid(ctx.session.userId)) throw oauthError('oauth/no-user', 'link: true needs a signed-in user');
  return startFlow(ctx.db, ctx.config, ctx.core.PUBLIC_URL, i.provider, i.redirectTo, i.link ? ctx.session.userId : null);
};
