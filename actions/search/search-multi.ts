import { ActionError } from '../../src/core/errors.js';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { searchErrors, type SearchRequest, type SearchResult } from '../../src/plugins/search/lib/query.js';
import { searchService } from '../../src/plugins/search/lib/service.js';

const MAX_QUERIES = 10;

/** Several indexes in one call (a command palette); each search is exactly what searchQuery would answer. */
export const searchMulti: ActionHandler<{ queries: SearchRequest[] }, { results: SearchResult[]; processingTimeMs: number }, SearchConfig> = async (input, ctx) => {
  if (!Array.isArray(input.queries) || input.queries.length === 0) throw ActionError.from(searchErrors, 'search/invalid-input', 'queries must name at least one search');
  if (input.queries.length > MAX_QUERIES) throw ActionError.from(searchErrors, 'search/invalid-input', `at most ${MAX_QUERIES} searches in one call`);
  const started = performance.now();
  const service = ctx.service(searchService);
  const results = await Promise.all(input.queries.map((q) => service.search(q, ctx.session)));
  return { results, processingTimeMs: Math.round(performance.now() - started) };
};
