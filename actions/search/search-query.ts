import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import type { SearchRequest, SearchResult } from '../../src/plugins/search/lib/query.js';
import { searchService } from '../../src/plugins/search/lib/service.js';

/** One index, as the caller: the engine applies the role's permission filter with the session. */
export const searchQuery: ActionHandler<SearchRequest, SearchResult, SearchConfig> = async (input, ctx) => ctx.service(searchService).search(input, ctx.session);
