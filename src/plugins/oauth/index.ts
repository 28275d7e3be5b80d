/**
 * The oauth plugin's public API for other plugins: the claims hook (add Hasura session variables) and the
 * settings type.
 */
export { oauthClaims, ClaimsRegistry } from './lib/claims.js';
export type { ClaimsHook, ClaimsUser } from './lib/claims.js';
export type { OAuthConfig } from './config.js';
