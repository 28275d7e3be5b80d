import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { definitionFor } from '../../src/plugins/search/lib/query.js';
import { searchService } from '../../src/plugins/search/lib/service.js';
import { indexStatus, type IndexStatus } from '../../src/plugins/search/lib/status.js';

/** Engine, backfill progress, pending changes and lexicon size of the indexes that are on (admin). */
export const searchIndexStatus: ActionHandler<{ index?: string | null }, IndexStatus[], SearchConfig> = async (input, ctx) => {
  const s = ctx.service(searchService);
  const defs = input.index ? [definitionFor(s.defs, s.enabled, input.index)] : s.enabled.map((n) => s.defs.get(n)!);
  return indexStatus(ctx.db, defs, s.engine);
};
