import type { EventHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { addToLexicon } from '../../src/plugins/search/lib/pg-engine.js';
import { searchService } from '../../src/plugins/search/lib/service.js';
import { SYNC_PREFIX } from '../../src/plugins/search/lib/triggers.js';
import { enqueueSync } from '../../src/plugins/search/lib/sync-job.js';

/**
 * Every index's sync trigger (`search_sync_<index>` on the index's table). The lexicon learns the row's words;
 * with Meilisearch the document is queued for the next batch (an insert or update as an upsert of the row as it
 * is when the batch is sent, a delete as a delete), in the same transaction as the event's receipt, and the
 * index's drain job is enqueued (one per index and sync window; a redelivered event enqueues it again, which
 * is harmless, so a crash between the commit and the enqueue strands nothing).
 */
export const searchSyncRow: EventHandler<Record<string, unknown>, SearchConfig> = async (event, ctx) => {
  const s = ctx.service(searchService);
  const name = event.trigger.name.startsWith(SYNC_PREFIX) ? event.trigger.name.slice(SYNC_PREFIX.length) : '';
  const def = s.defs.get(name);
  if (!def || !s.enabled.includes(name)) return { skipped: `index ${name || event.trigger.name} is not on (SEARCH_INDEXES)` };
  if (def.table.schema !== event.table.schema || def.table.name !== event.table.name) {
    return { skipped: `trigger ${event.trigger.name} is on ${event.table.schema}.${event.table.name}, index ${name} reads ${def.table.schema}.${def.table.name}` };
  }
  const row = event.event.data.new ?? event.event.data.old;
  const id = row?.[def.primaryKey];
  if (id === undefined || id === null) return { skipped: `the row has no ${def.primaryKey}` };
  const op = event.event.op === 'DELETE' ? 'delete' : 'upsert';
  await ctx.once(event.id, async (tx) => {
    if (op === 'upsert' && event.event.data.new) await addToLexicon(tx, def, event.event.data.new);
    if (s.meili) {
      await tx.query(
        `INSERT INTO search.pending (index_name, doc_id, op) VALUES ($1, $2, $3)
         ON CONFLICT (index_name, doc_id) DO UPDATE SET op = excluded.op, enqueued_at = clock_timestamp()`,
        [name, String(id), op],
      );
    }
  });
  if (s.meili) await enqueueSync(ctx, ctx.config, name);
};
