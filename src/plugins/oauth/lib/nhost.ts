/**
 * Nhost Auth's `auth.user_providers`, kept in step with `oauth.identity` (OAUTH_NHOST_USER_PROVIDERS): apps and
 * Nhost's own tooling that read the table see the accounts linked here, and users Nhost Auth linked earlier sign
 * in to the same user. Nhost's table allows one account per provider and user, and its provider_id references
 * `auth.providers`, a list of names this plugin adds its own providers to.
 */
import type { Queryable } from '../../../core/plugin.js';
import { oauthError } from './errors.js';

export class NhostUserProviders {
  /** Fails unless Nhost Auth's tables are there: the setting would otherwise fail every sign-in. */
  static async check(db: Queryable): Promise<NhostUserProviders> {
    const r = await db.query<{ providers: string | null; links: string | null }>(
      `SELECT to_regclass('auth.providers')::text AS providers, to_regclass('auth.user_providers')::text AS links`,
    );
    const row = r.rows[0];
    if (!row?.providers || !row.links) throw new Error('OAUTH_NHOST_USER_PROVIDERS is on but auth.user_providers or auth.providers does not exist (is Nhost Auth installed in this database?)');
    return new NhostUserProviders();
  }

  /** The user Nhost Auth linked this provider account to, if any. */
  async userOf(db: Queryable, provider: string, providerUserId: string): Promise<string | undefined> {
    const r = await db.query<{ user_id: string }>('SELECT user_id::text FROM auth.user_providers WHERE provider_id = $1 AND provider_user_id = $2', [provider, providerUserId]);
    return r.rows[0]?.user_id;
  }

  /**
   * Records the link. Provider tokens are not kept (access_token is NOT NULL in Nhost's table: an empty string).
   * A second account of the same provider for one user cannot be recorded there, so it is refused.
   */
  async link(db: Queryable, userId: string, provider: string, providerUserId: string): Promise<void> {
    await db.query('INSERT INTO auth.providers (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [provider]);
    const same = await db.query<{ provider_user_id: string }>(
      'SELECT provider_user_id FROM auth.user_providers WHERE user_id = $1 AND provider_id = $2 AND provider_user_id <> $3 FOR UPDATE',
      [userId, provider, providerUserId],
    );
    if (same.rows.length) throw oauthError('oauth/provider-already-linked', `this user already has another ${provider} account linked`);
    const r = await db.query(
      `INSERT INTO auth.user_providers (user_id, access_token, provider_id, provider_user_id) VALUES ($1, '', $2, $3)
       ON CONFLICT (provider_id, provider_user_id) DO UPDATE SET updated_at = now() WHERE auth.user_providers.user_id = EXCLUDED.user_id
       RETURNING id`,
      [userId, provider, providerUserId],
    );
    if (!r.rows.length) throw oauthError('oauth/identity-taken');
  }

  async unlink(db: Queryable, userId: string, provider: string, providerUserId: string): Promise<void> {
    await db.query('DELETE FROM auth.user_providers WHERE user_id = $1 AND provider_id = $2 AND provider_user_id = $3', [userId, provider, providerUserId]);
  }
}
