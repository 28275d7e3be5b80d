/** The sync triggers `install search --index a,b` puts on the indexed tables. */
import type { ProjectTrigger } from '../../../core/plugin.js';
import type { SearchConfig } from '../config.js';
import { loadDefinitions } from './definitions.js';

export const SYNC_PREFIX = 'search_sync_';

export function syncTriggers(settings: Readonly<Partial<SearchConfig>>): ProjectTrigger[] {
  const names = settings.SEARCH_INDEXES ?? [];
  if (!names.length) return [];
  const defs = loadDefinitions(settings.SEARCH_DEFINITIONS_FILE ?? '');
  const unknown = names.filter((n) => !defs.has(n));
  if (unknown.length) throw new Error(`--index names ${unknown.join(', ')}, which no definition has (defined: ${[...defs.keys()].join(', ')})`);
  return names.map((n) => {
    const d = defs.get(n)!;
    return {
      name: `${SYNC_PREFIX}${n}`,
      table: { ...d.table },
      insert: { columns: '*' },
      // Any column: a change to a column a permission filter reads moves the row in or out of someone's scope.
      update: { columns: '*' },
      delete: { columns: '*' },
      handler: 'search_sync_row',
    };
  });
}
