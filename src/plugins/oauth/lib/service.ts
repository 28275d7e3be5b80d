/** Everything a sign-in needs, built once at start from the settings: keys, providers, the users table. */
import { defineService } from '../../../core/plugin.js';
import type { OAuthConfig } from '../config.js';
import { oauthClaims } from './claims.js';
import { loadSessionKeys, type SessionKeys } from './keys.js';
import { NhostUserProviders } from './nhost.js';
import { buildProviders, type Provider } from './providers.js';
import { parseAllowList, type AllowedTarget } from './redirect.js';
import { Tokens } from './tokens.js';
import { UsersTable } from './users.js';

export interface OAuthCore {
  providers: ReadonlyMap<string, Provider>;
  allow: readonly AllowedTarget[];
  users: UsersTable;
  /** Absent while OAUTH_JWT_SECRET is unset (only possible with no provider on). */
  keys: SessionKeys | undefined;
  tokens: Tokens | undefined;
  /** Nhost Auth's auth.user_providers, when OAUTH_NHOST_USER_PROVIDERS keeps it in step. */
  nhost: NhostUserProviders | undefined;
}

export const oauthCore = defineService<OAuthCore, OAuthConfig>({
  name: 'core',
  async create(runtime) {
    const cfg = runtime.config;
    const keys = cfg.OAUTH_JWT_SECRET ? await loadSessionKeys(cfg.OAUTH_JWT_SECRET, cfg.OAUTH_JWT_PREVIOUS_KEYS) : undefined;
    const users = new UsersTable(cfg);
    const claims = runtime.service(oauthClaims);
    const nhost = cfg.OAUTH_NHOST_USER_PROVIDERS ? await NhostUserProviders.check(runtime.db) : undefined;
    return {
      providers: buildProviders(cfg, runtime.core.PUBLIC_URL),
      allow: parseAllowList(cfg.OAUTH_REDIRECT_ALLOWLIST),
      users,
      keys,
      tokens: keys ? new Tokens(cfg, keys, users, claims) : undefined,
      nhost,
    };
  },
});
