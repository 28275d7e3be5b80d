/**
 * The search service: the validated definitions of the indexes that are on, and the engine behind them.
 * Created at start, so a bad definition or an index without a definition stops the server with every problem.
 */
import { defineService, type PluginRuntime, type Session } from '../../../core/plugin.js';
import type { SearchConfig } from '../config.js';
import { DefinitionError, loadDefinitions, type IndexDefinition } from './definitions.js';
import { MeiliEngine } from './meili-engine.js';
import { ensurePgIndex, pgSearch, pgSuggest } from './pg-engine.js';
import { ActionError } from '../../../core/errors.js';
import { definitionFor, normalise, permissionFor, searchErrors, type SearchRequest, type SearchResult } from './query.js';

export interface SearchService {
  readonly defs: ReadonlyMap<string, IndexDefinition>;
  readonly enabled: readonly string[];
  readonly engine: 'postgres' | 'meilisearch';
  readonly meili: MeiliEngine | null;
  search(input: SearchRequest, session: Session): Promise<SearchResult>;
  suggest(input: { index: string; q: string; limit?: number }, session: Session): Promise<{ suggestions: string[]; processingTimeMs: number }>;
}

export function createSearchService(rt: PluginRuntime<SearchConfig>): SearchService {
  const c = rt.config;
  const defs = loadDefinitions(c.SEARCH_DEFINITIONS_FILE);
  const unknown = c.SEARCH_INDEXES.filter((n) => !defs.has(n));
  if (unknown.length) throw new DefinitionError([`SEARCH_INDEXES names ${unknown.join(', ')}, which no definition has (defined: ${[...defs.keys()].join(', ')})`]);
  const meili = c.SEARCH_ENGINE === 'meilisearch' ? new MeiliEngine(rt, defs) : null;
  const variables = (s: Session) => s.variables as Record<string, string>;
  return {
    defs,
    enabled: c.SEARCH_INDEXES,
    engine: c.SEARCH_ENGINE,
    meili,
    async search(input, session) {
      const def = definitionFor(defs, c.SEARCH_INDEXES, input.index);
      const permission = permissionFor(def, session);
      const req = normalise(def, input, c.SEARCH_MAX_LIMIT, c.SEARCH_MAX_QUERY_LENGTH);
      try {
        return await (meili ? meili.search(req, permission, variables(session)) : pgSearch(rt.db, req, permission, variables(session)));
      } catch (e) {
        // A filter value PostgreSQL cannot read as the column's type (class 22: data exception) is the caller's.
        if (typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('22')) {
          throw ActionError.from(searchErrors, 'search/invalid-filter', `a filter value does not fit its column: ${(e as Error).message}`);
        }
        throw e;
      }
    },
    async suggest(input, session) {
      const started = performance.now();
      const def = definitionFor(defs, c.SEARCH_INDEXES, input.index);
      const permission = permissionFor(def, session);
      const req = normalise(def, { index: input.index, q: input.q }, c.SEARCH_MAX_LIMIT, c.SEARCH_MAX_QUERY_LENGTH);
      const limit = Math.min(Math.max(input.limit ?? 5, 0), 20);
      const suggestions = meili ? await meili.suggest(req, permission, variables(session), limit) : await pgSuggest(rt.db, req, permission, variables(session), limit);
      return { suggestions, processingTimeMs: Math.round(performance.now() - started) };
    },
  };
}

export const searchService = defineService<SearchService, SearchConfig>({
  name: 'search',
  async create(rt) {
    const service = createSearchService(rt);
    // Meilisearch is kept in sync by jobs; PostgreSQL searches the tables themselves and needs none.
    if (service.meili && !rt.plugins.some((p) => p.name === 'jobs')) {
      throw new Error('SEARCH_ENGINE=meilisearch needs the jobs plugin (its jobs send the changes to Meilisearch): enable jobs, or use SEARCH_ENGINE=postgres');
    }
    for (const name of service.enabled) {
      const def = service.defs.get(name)!;
      const exists = await rt.db.query('SELECT to_regclass($1) AS t', [`"${def.table.schema}"."${def.table.name}"`]);
      if (!exists.rows[0]?.t) {
        rt.log.warn({ index: name, table: `${def.table.schema}.${def.table.name}` }, 'index table does not exist yet; searchReindex once it does');
        continue;
      }
      await rt.db.query(
        `INSERT INTO search.index_state (name, engine) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET engine = excluded.engine, updated_at = now()`,
        [name, service.engine],
      );
      if (service.engine === 'postgres') await ensurePgIndex(rt.db, def);
    }
    if (service.meili) await service.meili.start();
    return service;
  },
});
