import type { ActionHandler } from '../../src/core/plugin.js';
import { ActionError } from '../../src/core/errors.js';
import { CORE_ERRORS } from '../../src/plugins/core/lib/errors.js';
import type { CoreSelfTestOutput, MutationCoreSelfTestArgs } from '../../src/generated/actions.js';

/**
 * Records a self-test run. The row's INSERT fires core_selftest_run_inserted, whose handler stamps
 * delivered_at: a client watching the row sees the whole Hasura → handler → database loop work.
 */
export const coreSelfTest: ActionHandler<MutationCoreSelfTestArgs, CoreSelfTestOutput> = async (input, ctx) => {
  const note = input.note ?? null;
  if (note !== null && note.length > 500) throw ActionError.from(CORE_ERRORS, 'core/note-too-long');
  const userId = ctx.session.userId;
  if (!userId && ctx.session.role !== 'admin') throw ActionError.from(CORE_ERRORS, 'core/no-user');
  const res = await ctx.db.query<{ id: string; created_at: Date }>(
    `insert into core.selftest_runs (requested_by, note) values ($1, $2) returning id, created_at`,
    [userId, note],
  );
  const row = res.rows[0]!;
  return { id: row.id, createdAt: row.created_at.toISOString() };
};
