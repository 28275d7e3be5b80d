import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthCore } from '../../src/plugins/oauth/lib/service.js';

export const oauthProviders: ActionHandler<unknown, unknown, OAuthConfig> = async (_input, ctx) =>
  [...ctx.service(oauthCore).providers.values()].map((p) => ({ id: p.id, displayName: p.displayName, kind: p.kind }));
