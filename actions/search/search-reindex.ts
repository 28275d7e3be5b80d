import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { ensurePgIndex, rebuildLexicon } from '../../src/plugins/search/lib/pg-engine.js';
import { definitionFor } from '../../src/plugins/search/lib/query.js';
import { searchService } from '../../src/plugins/search/lib/service.js';
import { indexStatus, type IndexStatus } from '../../src/plugins/search/lib/status.js';

/**
 * Rebuilds an index (admin): the lexicon always (typo correction and suggestions read it), the GIN index for
 * PostgreSQL, settings and a resumable backfill for Meilisearch.
 */
export const searchReindex: ActionHandler<{ index: string; restart?: boolean | null }, IndexStatus, SearchConfig> = async (input, ctx) => {
  const s = ctx.service(searchService);
  const def = definitionFor(s.defs, s.enabled, input.index);
  await ctx.db.query(`INSERT INTO search.index_state (name, engine) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET engine = excluded.engine, updated_at = now()`, [def.name, s.engine]);
  if (s.meili) await s.meili.backfill(def, { restart: !!input.restart });
  else await ensurePgIndex(ctx.db, def);
  await rebuildLexicon(ctx.db, def);
  return (await indexStatus(ctx.db, [def], s.engine))[0]!;
};
