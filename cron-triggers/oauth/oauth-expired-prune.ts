import type { CronHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';

/**
 * Hourly: removes sign-in flows and one-time codes an hour past their expiry, and refresh tokens a day past
 * theirs (kept that long so a late replay is still recognized as reuse rather than as an unknown token).
 * Deleting what is already gone is a no-op, so a redelivered cron event changes nothing.
 */
export const oauthExpiredPrune: CronHandler<unknown, OAuthConfig> = async (_cron, ctx) => {
  const flows = await ctx.db.query(`DELETE FROM oauth.flow WHERE expires_at < now() - interval '1 hour'`);
  const codes = await ctx.db.query(`DELETE FROM oauth.login_code WHERE expires_at < now() - interval '1 hour'`);
  const tokens = await ctx.db.query(`DELETE FROM oauth.refresh_token WHERE expires_at < now() - interval '1 day'`);
  ctx.log.debug({ flows: flows.rowCount, codes: codes.rowCount, refreshTokens: tokens.rowCount }, 'expired oauth rows pruned');
};
