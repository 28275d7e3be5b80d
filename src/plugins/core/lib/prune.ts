import type { Queryable } from '../../../core/plugin.js';

/**
 * Deletes in bounded batches so a large backlog never holds one long transaction or bloats WAL in one go
 * (Hasura's event_log cleanup issue #7826 is exactly that pain).
 */
async function deleteInBatches(db: Queryable, sql: string, params: unknown[], batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await db.query(sql, [...params, batch]);
    total += res.rowCount ?? 0;
    if ((res.rowCount ?? 0) < batch) return total;
  }
}

/** Deletes rows of `table` (one of ours, never user input) older than `olderThanDays`, keyed by `key`. */
function pruneByAge(db: Queryable, table: string, key: string, olderThanDays: number): Promise<number> {
  return deleteInBatches(
    db,
    `delete from ${table} where ${key} = any(array(
       select ${key} from ${table} where created_at < now() - make_interval(days => $1) limit $2))`,
    [olderThanDays],
  );
}

export function pruneEventReceipts(db: Queryable, olderThanDays: number): Promise<number> {
  return pruneByAge(db, 'nself_plugins.event_receipt', 'ctid', olderThanDays);
}

export function pruneSelftestRuns(db: Queryable, olderThanDays: number): Promise<number> {
  return pruneByAge(db, 'core.selftest_runs', 'id', olderThanDays);
}

/**
 * Hasura keeps every delivered event forever in hdb_catalog.event_log (auto-cleanup is EE-only). We delete only
 * *delivered* events of our own triggers: errored ones stay for inspection and redelivery (issue #10511).
 * Does nothing when the event log lives in another database. event_log.created_at is a timestamp without
 * time zone filled by now() in the writer's TimeZone, so it is compared with localtimestamp.
 */
export async function pruneHasuraEventLog(db: Queryable, olderThanDays: number, triggerNames: string[]): Promise<number> {
  if (olderThanDays <= 0 || triggerNames.length === 0) return 0;
  const exists = await db.query<{ ok: boolean }>(`select to_regclass('hdb_catalog.event_log') is not null as ok`);
  if (!exists.rows[0]?.ok) return 0;
  // Invocation logs first: v2 has no foreign key between the two tables.
  await deleteInBatches(
    db,
    `delete from hdb_catalog.event_invocation_logs where id = any(array(
       select i.id from hdb_catalog.event_invocation_logs i
       join hdb_catalog.event_log e on e.id = i.event_id
       where e.delivered and e.locked is null and e.trigger_name = any($1)
         and e.created_at < localtimestamp - make_interval(days => $2) limit $3))`,
    [triggerNames, olderThanDays],
  );
  return deleteInBatches(
    db,
    `delete from hdb_catalog.event_log where id = any(array(
       select id from hdb_catalog.event_log
       where delivered and locked is null and trigger_name = any($1)
         and created_at < localtimestamp - make_interval(days => $2) limit $3))`,
    [triggerNames, olderThanDays],
  );
}
