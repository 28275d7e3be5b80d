import { ActionError } from '../../src/core/errors.js';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { SearchConfig } from '../../src/plugins/search/config.js';
import { definitionFor, permissionFor, searchErrors } from '../../src/plugins/search/lib/query.js';
import { searchService } from '../../src/plugins/search/lib/service.js';

/** A token the client sends to Meilisearch itself; every index's rule is the caller's permission filter. */
export const searchTenantToken: ActionHandler<{ indexes?: string[] | null }, { token: string; expiresAt: string; indexes: string[]; host: string }, SearchConfig> = async (input, ctx) => {
  const s = ctx.service(searchService);
  if (!s.meili) throw ActionError.from(searchErrors, 'search/invalid-input', 'tenant tokens need SEARCH_ENGINE=meilisearch');
  const names = input.indexes?.length ? [...new Set(input.indexes)] : [...s.enabled];
  const defs = names.map((n) => definitionFor(s.defs, s.enabled, n));
  const permissions = defs.map((d) => permissionFor(d, ctx.session));
  const t = await s.meili.tenantToken(defs, permissions, ctx.session.variables as Record<string, string>);
  return { ...t, indexes: names, host: ctx.config.SEARCH_MEILISEARCH_URL };
};
