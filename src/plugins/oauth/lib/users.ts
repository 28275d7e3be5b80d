/**
 * The users table, whichever it is (oauth.user, Nhost's auth.users, the app's own): SQL built once from the
 * configured table and columns, identities linked to its rows.
 */
import type { PoolClient } from 'pg';
import type { OAuthConfig } from '../config.js';
import { oauthError } from './errors.js';
import type { NhostUserProviders } from './nhost.js';
import type { Profile } from './profile.js';

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

export interface UserRow {
  id: string;
  email: string | null;
  role: string | null;
  display_name: string | null;
  avatar_url: string | null;
}

export class UsersTable {
  readonly table: string;
  readonly id: string;
  private readonly cols: { email?: string; verified?: string; name?: string; avatar?: string; locale?: string; role?: string };
  /** `SELECT … FROM users u` column list giving a UserRow. */
  readonly selectList: string;

  constructor(cfg: OAuthConfig) {
    const [schema, table] = cfg.OAUTH_USERS_TABLE.split('.') as [string, string];
    this.table = `${q(schema)}.${q(table)}`;
    this.id = q(cfg.OAUTH_USERS_ID_COLUMN);
    const opt = (c: string) => (c ? q(c) : undefined);
    this.cols = {
      email: opt(cfg.OAUTH_USERS_EMAIL_COLUMN),
      verified: opt(cfg.OAUTH_USERS_EMAIL_VERIFIED_COLUMN),
      name: opt(cfg.OAUTH_USERS_NAME_COLUMN),
      avatar: opt(cfg.OAUTH_USERS_AVATAR_COLUMN),
      locale: opt(cfg.OAUTH_USERS_LOCALE_COLUMN),
      role: opt(cfg.OAUTH_USERS_ROLE_COLUMN),
    };
    const c = (col: string | undefined, as: string) => `${col ? `u.${col}::text` : 'NULL::text'} AS ${as}`;
    this.selectList = [`u.${this.id}::text AS id`, c(this.cols.email, 'email'), c(this.cols.role, 'role'), c(this.cols.name, 'display_name'), c(this.cols.avatar, 'avatar_url')].join(', ');
  }

  async byId(db: PoolClient, id: string): Promise<UserRow | undefined> {
    const r = await db.query<UserRow>(`SELECT ${this.selectList} FROM ${this.table} u WHERE u.${this.id} = $1`, [id]);
    return r.rows[0];
  }

  /**
   * The user a verified email may join. Only a user whose own email is verified (when the table says so):
   * otherwise someone who registered the address without proving it would receive the real owner's sign-in.
   */
  async byVerifiedEmail(db: PoolClient, email: string): Promise<UserRow | undefined> {
    if (!this.cols.email) return undefined;
    const verified = this.cols.verified ? ` AND u.${this.cols.verified} IS TRUE` : '';
    const r = await db.query<UserRow>(
      `SELECT ${this.selectList} FROM ${this.table} u WHERE lower(u.${this.cols.email}) = lower($1)${verified} ORDER BY u.${this.id} LIMIT 2`,
      [email],
    );
    // Two users with one verified address: joining either would be a guess.
    return r.rows.length === 1 ? r.rows[0] : undefined;
  }

  async create(db: PoolClient, p: Profile): Promise<UserRow> {
    const cols: string[] = [];
    const vals: unknown[] = [];
    const add = (col: string | undefined, v: unknown) => {
      if (col && v !== null && v !== undefined) {
        cols.push(col);
        vals.push(v);
      }
    };
    add(this.cols.email, p.email);
    add(this.cols.verified, p.email ? p.emailVerified : null);
    add(this.cols.name, p.name);
    add(this.cols.avatar, p.avatarUrl);
    add(this.cols.locale, p.locale);
    const sql = cols.length
      ? `INSERT INTO ${this.table} AS u (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${this.selectList}`
      : `INSERT INTO ${this.table} AS u DEFAULT VALUES RETURNING ${this.selectList}`;
    return (await db.query<UserRow>(sql, vals)).rows[0]!;
  }
}

export type Resolution = { user: UserRow; outcome: 'success' | 'linked'; created: boolean };

/**
 * The user a verified provider profile signs in as: its linked identity's user (or the one Nhost Auth linked it
 * to); for a link flow, the linking user; else the one user with that verified email; else a new user. The
 * identity row is upserted (and Nhost's auth.user_providers row when it is kept).
 */
export async function resolveUser(db: PoolClient, users: UsersTable, cfg: OAuthConfig, p: Profile, linkUserId: string | null, nhost?: NhostUserProviders): Promise<Resolution> {
  const existing = await db.query<{ id: string; user_id: string }>(
    'SELECT id, user_id::text FROM oauth.identity WHERE provider = $1 AND provider_user_id = $2 FOR UPDATE',
    [p.provider, p.providerUserId],
  );
  let identity: { user_id: string } | undefined = existing.rows[0];
  if (!identity && nhost) {
    const linkedByNhost = await nhost.userOf(db, p.provider, p.providerUserId);
    if (linkedByNhost) identity = { user_id: linkedByNhost };
  }
  let user: UserRow | undefined;
  let created = false;
  let outcome: Resolution['outcome'] = 'success';
  if (linkUserId) {
    if (identity && identity.user_id !== linkUserId) throw oauthError('oauth/identity-taken');
    user = await users.byId(db, linkUserId);
    if (!user) throw oauthError('oauth/no-user', 'the linking user does not exist');
    outcome = 'linked';
  } else if (identity) {
    user = await users.byId(db, identity.user_id);
  }
  if (!user && !identity) {
    if (p.email && p.emailVerified && cfg.OAUTH_LINK_VERIFIED_EMAIL) user = await users.byVerifiedEmail(db, p.email);
    if (!user) {
      if (!cfg.OAUTH_SIGN_UP) throw oauthError('oauth/sign-up-disabled');
      user = await users.create(db, p);
      created = true;
    }
  }
  if (!user) throw oauthError('oauth/no-user', 'the user of this identity no longer exists');
  await db.query(
    `INSERT INTO oauth.identity (user_id, provider, provider_user_id, email, email_verified, name, avatar_url, locale)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (provider, provider_user_id) DO UPDATE SET
       email = EXCLUDED.email, email_verified = EXCLUDED.email_verified,
       name = COALESCE(EXCLUDED.name, oauth.identity.name), avatar_url = COALESCE(EXCLUDED.avatar_url, oauth.identity.avatar_url),
       locale = COALESCE(EXCLUDED.locale, oauth.identity.locale), last_sign_in_at = now()`,
    [user.id, p.provider, p.providerUserId, p.email, p.emailVerified, p.name, p.avatarUrl, p.locale],
  );
  await nhost?.link(db, user.id, p.provider, p.providerUserId);
  return { user, outcome, created };
}
