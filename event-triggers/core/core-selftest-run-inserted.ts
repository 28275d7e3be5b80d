import type { EventHandler } from '../../src/core/plugin.js';

interface SelftestRunRow {
  id: string;
  requested_by: string | null;
}

/** Stamps the run as delivered, once per Hasura event id (redeliveries change nothing). */
export const coreSelftestRunInserted: EventHandler<SelftestRunRow> = async (event, ctx) => {
  const row = event.event.data.new;
  if (!row?.id) return { skipped: 'event carries no new row id' };
  const result = await ctx.once(event.id, async (tx) => {
    const res = await tx.query(
      `update core.selftest_runs set delivered_at = now(), delivered_event_id = $2
        where id = $1 and delivered_at is null`,
      [row.id, event.id],
    );
    return res.rowCount ?? 0;
  });
  if (result.first && result.value === 0) ctx.log.info({ runId: row.id }, 'self-test run already gone or delivered');
};
