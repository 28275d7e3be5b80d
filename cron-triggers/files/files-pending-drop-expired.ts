import type { CronHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';

const BATCH = 1000;

/**
 * Hourly: single-request uploads never completed before their expiry are dropped (soft-deleted; the purge
 * trigger removes whatever bytes arrived), which also releases the quota they reserved. Idempotent.
 */
export const filesPendingDropExpired: CronHandler<unknown, FilesConfig> = async (_cron, ctx) => {
  let total = 0;
  for (;;) {
    const r = await ctx.db.query(
      `update files.file set deleted_at = now(), failure_reason = 'upload never completed'
        where id in (select id from files.file
                      where status = 'pending' and deleted_at is null and upload_id is null and expires_at < now()
                      order by expires_at limit ${BATCH} for update skip locked)`,
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < BATCH) break;
  }
  if (total) ctx.log.info({ dropped: total }, 'expired pending uploads dropped');
};
