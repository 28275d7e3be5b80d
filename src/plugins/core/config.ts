import { z } from 'zod';

const days = (def: number, description: string) =>
  z.coerce.number().int().min(0).max(3650).default(def).describe(description);

/** Settings of the core plugin (kept apart from the manifest so handlers can name the type without a cycle). */
export const coreConfig = z.object({
  CORE_RECEIPT_RETENTION_DAYS: days(14, 'Days to keep event receipts (the exactly-once ledger); older ones are pruned daily.'),
  CORE_SELFTEST_RETENTION_DAYS: days(7, 'Days to keep self-test runs.'),
  CORE_HASURA_EVENT_LOG_RETENTION_DAYS: days(
    7,
    "Days to keep delivered rows of the suite's own triggers in hdb_catalog.event_log (0 keeps them forever). Errored events are never deleted.",
  ),
});

export type CoreConfig = z.infer<typeof coreConfig>;
