import { z } from 'zod';
import { secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) => z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** Comma-separated index names, each a definition's name. */
const indexList = z
  .string()
  .default('')
  .refine((v) => v.split(',').every((s) => s.trim() === '' || /^[a-z][a-z0-9_]{0,62}$/.test(s.trim())), 'index names are lower snake_case')
  .transform((v) => [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))]);

/** Settings of the search plugin. */
export const searchConfig = z.object({
  SEARCH_ENGINE: z.enum(['postgres', 'meilisearch']).default('postgres').describe('Search engine: PostgreSQL full-text search (embedded default) or Meilisearch (at scale).'),
  SEARCH_INDEXES: indexList.describe('Indexes that are on (definitions by name); their tables get the sync triggers at install.'),
  SEARCH_DEFINITIONS_FILE: z.string().default('').describe('JSON file with index definitions of your own tables (validated at boot); the shipped ones are always known.'),
  SEARCH_MEILISEARCH_URL: z.string().default('').describe('Meilisearch URL (engine meilisearch).'),
  SEARCH_MEILISEARCH_API_KEY: secret(z.string().default('')).describe('Meilisearch admin API key (engine meilisearch).'),
  SEARCH_MEILISEARCH_SEARCH_KEY: secret(z.string().default('')).describe('Meilisearch search API key and its uid (as "uid:key"), which signs tenant tokens.'),
  SEARCH_MAX_LIMIT: int(1, 1000, 100, 'Largest page of hits; larger limits are capped to this.'),
  SEARCH_MAX_QUERY_LENGTH: int(16, 100_000, 512, 'Longer queries are cut to this many characters.'),
  SEARCH_SYNC_BATCH_SIZE: int(1, 10_000, 500, 'Rows sent to Meilisearch in one batch (sync and backfill).'),
  SEARCH_SYNC_INTERVAL_MS: int(10, 60_000, 200, 'Sync window (Meilisearch): the changes of one window are sent by one batch job per index, which starts when the window closes.'),
  SEARCH_TENANT_TOKEN_TTL_SECONDS: int(60, 86_400, 3600, 'Lifetime of a tenant token.'),
});

export type SearchConfig = z.infer<typeof searchConfig>;
