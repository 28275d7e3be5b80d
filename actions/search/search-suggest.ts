import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { searchService } from '../../src/plugins/search/lib/service.js';

/** Completions confirmed against rows the caller may see: nobody is offered a word of someone else's private rows. */
export const searchSuggest: ActionHandler<{ index: string; q: string; limit?: number }, { suggestions: string[]; processingTimeMs: number }, SearchConfig> = async (input, ctx) =>
  ctx.service(searchService).suggest(input, ctx.session);
