import { definePlugin } from '../../core/plugin.js';
import { searchConfig } from './config.js';
import { searchService } from './lib/service.js';
import { syncTriggers } from './lib/triggers.js';
import { searchQuery } from '../../../actions/search/search-query.js';
import { searchSuggest } from '../../../actions/search/search-suggest.js';
import { searchMulti } from '../../../actions/search/search-multi.js';
import { searchIndexStatus } from '../../../actions/search/search-index-status.js';
import { searchReindex } from '../../../actions/search/search-reindex.js';
import { searchTenantToken } from '../../../actions/search/search-tenant-token.js';
import { syncIndexJob } from './lib/sync-job.js';
import { searchSyncRow } from '../../../event-triggers/search/search-sync-row.js';

const SEARCHERS = ['user'];

export const searchPlugin = definePlugin({
  name: 'search',
  version: '0.1.0',
  description: 'Typo-tolerant, permission-aware search: PostgreSQL full-text search with pg_trgm, or Meilisearch kept in sync by event triggers.',
  // Only the Meilisearch engine needs jobs (its sync); on PostgreSQL the plugin runs without them.
  optionalDependsOn: ['jobs'],
  config: searchConfig,
  services: [searchService],
  jobs: [syncIndexJob],
  actions: {
    searchQuery: { handler: searchQuery, permissions: SEARCHERS, timeout: 10 },
    searchSuggest: { handler: searchSuggest, permissions: SEARCHERS, timeout: 5 },
    searchMulti: { handler: searchMulti, permissions: SEARCHERS, timeout: 10 },
    searchTenantToken: { handler: searchTenantToken, permissions: SEARCHERS },
    searchIndexStatus: { handler: searchIndexStatus },
    searchReindex: { handler: searchReindex, timeout: 600 },
  },
  install: {
    options: {
      engine: { description: 'Search engine: postgres (default) or meilisearch', setting: 'SEARCH_ENGINE' },
      index: { description: 'Indexes to switch on (definition names); their tables get sync triggers', setting: 'SEARCH_INDEXES', list: true },
      definitions: { description: 'JSON file with index definitions of your own tables', setting: 'SEARCH_DEFINITIONS_FILE' },
    },
    projectTriggers: syncTriggers,
    eventHandlers: { search_sync_row: { handler: searchSyncRow, comment: 'Keeps every index in step with its table' } },
  },
});
