/**
 * Hasura sessions: an access JWT with Hasura's claims, and a rotating refresh token kept as a SHA-256 hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { prepared } from '../../../core/prepared.js';
import type { Queryable } from '../../../core/plugin.js';
import type { OAuthConfig } from '../config.js';
import type { ClaimsRegistry } from './claims.js';
import { oauthError } from './errors.js';
import type { SessionKeys } from './keys.js';
import type { UsersTable, UserRow } from './users.js';

export const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();
export const randomToken = (): string => randomBytes(32).toString('base64url');

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export class Tokens {
  private readonly refreshSql: string;

  constructor(
    private readonly cfg: OAuthConfig,
    private readonly keys: SessionKeys,
    private readonly users: UsersTable,
    private readonly claims: ClaimsRegistry,
  ) {
    // One round trip: mark the presented token used only if it is live, add its successor to the family,
    // and read the user the new access token is for.
    this.refreshSql = `WITH used AS (
        UPDATE oauth.refresh_token SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING family_id, user_id),
      next AS (
        INSERT INTO oauth.refresh_token (family_id, user_id, token_hash, expires_at)
        SELECT family_id, user_id, $2, now() + make_interval(days => $3) FROM used
        RETURNING family_id, user_id)
      SELECT next.family_id::text AS family_id, next.user_id::text AS user_id, ${users.selectList.replace(/u\.\S+::text AS id, /, '')}, u.${users.id} IS NOT NULL AS user_exists
        FROM next LEFT JOIN ${users.table} u ON u.${users.id} = next.user_id`;
  }

  async accessToken(user: Pick<UserRow, 'id' | 'email' | 'role'>, db: Queryable): Promise<string> {
    const defaultRole = user.role || this.cfg.OAUTH_DEFAULT_ROLE;
    const allowed = [...new Set([defaultRole, ...this.cfg.OAUTH_ALLOWED_ROLES])];
    const extra = this.claims.size ? await this.claims.collect({ id: user.id, email: user.email, defaultRole }, db) : {};
    const hasura = { ...extra, 'x-hasura-user-id': user.id, 'x-hasura-default-role': defaultRole, 'x-hasura-allowed-roles': allowed };
    const k = this.keys;
    let jwt = new SignJWT({ [k.claimsNamespace]: k.claimsFormat === 'json' ? hasura : JSON.stringify(hasura) })
      .setProtectedHeader(k.kid ? { alg: k.alg, kid: k.kid, typ: 'JWT' } : { alg: k.alg, typ: 'JWT' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(`${this.cfg.OAUTH_ACCESS_TOKEN_TTL_SECONDS}s`);
    if (k.issuer) jwt = jwt.setIssuer(k.issuer);
    if (k.audience) jwt = jwt.setAudience(k.audience);
    return jwt.sign(k.signingKey);
  }

  /** A new session (a new refresh token family) for `user`, inside the sign-in's transaction. */
  async issue(db: Queryable, user: UserRow): Promise<Session> {
    const refreshToken = randomToken();
    await db.query(
      `INSERT INTO oauth.refresh_token (family_id, user_id, token_hash, expires_at) VALUES (gen_random_uuid(), $1, $2, now() + make_interval(days => $3))`,
      [user.id, sha256(refreshToken), this.cfg.OAUTH_REFRESH_TOKEN_TTL_DAYS],
    );
    return { accessToken: await this.accessToken(user, db), refreshToken, expiresIn: this.cfg.OAUTH_ACCESS_TOKEN_TTL_SECONDS };
  }

  /** Rotates `presented`; a token used before revokes its whole family (a stolen copy or a stolen successor). */
  async refresh(db: Queryable, presented: string): Promise<Session & { user: UserRow }> {
    const refreshToken = randomToken();
    const hash = sha256(presented);
    const r = await prepared<UserRow & { family_id: string; user_id: string; user_exists: boolean }>(db, 'oauth_refresh_rotate', this.refreshSql, [hash, sha256(refreshToken), this.cfg.OAUTH_REFRESH_TOKEN_TTL_DAYS]);
    const row = r.rows[0];
    if (!row) {
      const old = await db.query<{ family_id: string; used: boolean }>(
        'SELECT family_id::text, used_at IS NOT NULL AS used FROM oauth.refresh_token WHERE token_hash = $1',
        [hash],
      );
      const known = old.rows[0];
      if (known?.used) {
        await revokeFamily(db, known.family_id, 'reuse');
        throw oauthError('oauth/refresh-token-reused');
      }
      throw oauthError('oauth/invalid-refresh-token');
    }
    if (!row.user_exists) {
      await revokeFamily(db, row.family_id, 'user-gone');
      throw oauthError('oauth/invalid-refresh-token');
    }
    const user: UserRow = { id: row.user_id, email: row.email, role: row.role, display_name: row.display_name, avatar_url: row.avatar_url };
    return { accessToken: await this.accessToken(user, db), refreshToken, expiresIn: this.cfg.OAUTH_ACCESS_TOKEN_TTL_SECONDS, user };
  }
}

export async function revokeFamily(db: Queryable, familyId: string, reason: string): Promise<number> {
  const r = await db.query(`UPDATE oauth.refresh_token SET revoked_at = now(), revoke_reason = $2 WHERE family_id = $1 AND revoked_at IS NULL`, [familyId, reason]);
  return r.rowCount ?? 0;
}
