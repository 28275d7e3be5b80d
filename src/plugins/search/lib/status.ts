import type { Queryable } from '../../../core/plugin.js';
import type { IndexDefinition } from './definitions.js';

export interface IndexStatus {
  name: string;
  engine: string;
  table: string;
  status: string;
  backfilled: number;
  backfillTotal: number | null;
  pending: number;
  lexiconTerms: number;
  lastError: string | null;
  updatedAt: string | null;
}

export async function indexStatus(db: Queryable, defs: IndexDefinition[], engine: string): Promise<IndexStatus[]> {
  const r = await db.query<{ name: string; engine: string | null; status: string | null; backfilled: string | null; backfill_total: string | null; last_error: string | null; updated_at: Date | null; pending: number; terms: number }>(
    `SELECT n.name, s.engine, s.status, s.backfilled, s.backfill_total, s.last_error, s.updated_at,
            (SELECT count(*)::int FROM search.pending p WHERE p.index_name = n.name) AS pending,
            (SELECT count(*)::int FROM search.lexicon l WHERE l.index_name = n.name) AS terms
       FROM unnest($1::text[]) AS n(name) LEFT JOIN search.index_state s ON s.name = n.name`,
    [defs.map((d) => d.name)],
  );
  return defs.map((d) => {
    const row = r.rows.find((x) => x.name === d.name)!;
    return {
      name: d.name,
      engine: row.engine ?? engine,
      table: `${d.table.schema}.${d.table.name}`,
      status: row.status ?? 'idle',
      backfilled: Number(row.backfilled ?? 0),
      backfillTotal: row.backfill_total === null ? null : Number(row.backfill_total),
      pending: row.pending,
      lexiconTerms: row.terms,
      lastError: row.last_error,
      updatedAt: row.updated_at ? row.updated_at.toISOString() : null,
    };
  });
}
