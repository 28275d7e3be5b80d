import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { OAuthConfig } from '../../src/plugins/oauth/config.js';
import { oauthError } from '../../src/plugins/oauth/lib/errors.js';
import { audit } from '../../src/plugins/oauth/lib/flow.js';
import { opaque, parseInput } from '../../src/plugins/oauth/lib/input.js';
import type { Profile } from '../../src/plugins/oauth/lib/profile.js';
import { oauthCore } from '../../src/plugins/oauth/lib/service.js';
import { sha256 } from '../../src/plugins/oauth/lib/tokens.js';
import { resolveUser } from '../../src/plugins/oauth/lib/users.js';
import { ActionError } from '../../src/core/errors.js';

const input = z.object({ code: opaque });

interface CodeRow {
  provider: string;
  profile: Profile;
  link_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

export const oauthExchangeCode: ActionHandler<unknown, unknown, OAuthConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const core = ctx.service(oauthCore);
  if (!core.tokens) throw oauthError('oauth/invalid-code');
  const tokens = core.tokens;
  let failure: { row: CodeRow; error: ActionError } | undefined;
  try {
    return await ctx.db.tx(async (tx) => {
      const r = await tx.query<CodeRow>(
        `UPDATE oauth.login_code SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING provider, profile, link_user_id::text, ip, user_agent`,
        [sha256(i.code)],
      );
      const row = r.rows[0];
      if (!row) throw oauthError('oauth/invalid-code');
      try {
        // A link is finished only by the user who started it: a code lured into another browser links nothing.
        if (row.link_user_id && row.link_user_id !== ctx.session.userId) throw oauthError('oauth/wrong-user');
        const { user, outcome, created } = await resolveUser(tx, core.users, ctx.config, row.profile, row.link_user_id, core.nhost);
        await audit(tx, { userId: user.id, provider: row.provider, outcome, ip: row.ip, userAgent: row.user_agent });
        const session = await tokens.issue(tx, user);
        return {
          ...session,
          user: { id: user.id, email: user.email, displayName: user.display_name, avatarUrl: user.avatar_url },
          created,
          linked: outcome === 'linked',
        };
      } catch (e) {
        if (e instanceof ActionError) failure = { row, error: e };
        throw e;
      }
    });
  } catch (e) {
    // The transaction rolled back (the code stays usable by its rightful user); the attempt is still recorded.
    if (failure) await audit(ctx.db, { userId: failure.row.link_user_id, provider: failure.row.provider, outcome: 'failure', reason: failure.error.code, ip: failure.row.ip, userAgent: failure.row.user_agent });
    throw e;
  }
};
