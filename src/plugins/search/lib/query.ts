/**
 * What a caller asks (`searchQuery` input), checked and normalised before any engine sees it: the index, the
 * query text (cut to the longest allowed, never parsed as syntax by us), filters against the allow-list of
 * filterable columns and operators, facets and sort on declared columns, a capped limit and a verified cursor.
 */
import { ActionError, defineErrors } from '../../../core/errors.js';
import type { Session } from '../../../core/plugin.js';
import { FilterError } from './bool-exp.js';
import type { IndexDefinition } from './definitions.js';

export const searchErrors = defineErrors({
  'search/unknown-index': { status: 404, message: 'no such index' },
  'search/forbidden': { status: 403, message: 'this role may not search this index' },
  'search/invalid-filter': { status: 400, message: 'invalid filter' },
  'search/invalid-sort': { status: 400, message: 'invalid sort' },
  'search/invalid-facet': { status: 400, message: 'invalid facet' },
  'search/invalid-cursor': { status: 400, message: 'invalid cursor' },
  'search/invalid-input': { status: 400, message: 'invalid input' },
});

export const FILTER_OPERATORS = new Set(['_eq', '_neq', '_in', '_nin', '_gt', '_gte', '_lt', '_lte', '_is_null']);
export const MAX_FACETS = 10;
export const FACET_VALUES = 20;

export interface SearchRequest {
  index: string;
  q: string;
  filters?: unknown;
  facets?: string[];
  sort?: string[];
  limit?: number;
  cursor?: string;
  highlight?: boolean;
}

export interface NormalisedRequest {
  def: IndexDefinition;
  q: string;
  filters: Record<string, unknown> | null;
  facets: string[];
  sort: Array<{ column: string; desc: boolean }>;
  limit: number;
  cursor: { values: Array<string | number | null>; now: number } | null;
  highlight: boolean;
}

export interface SearchHit {
  id: string;
  score: number;
  document: Record<string, unknown>;
  highlights: Record<string, string> | null;
}

export interface SearchResult {
  index: string;
  hits: SearchHit[];
  query: string;
  processingTimeMs: number;
  estimatedTotal: number;
  facets: Record<string, Array<{ value: string | null; count: number }>> | null;
  didYouMean: string | null;
  cursor: string | null;
}

const bad = (code: keyof typeof searchErrors, detail: string) => ActionError.from(searchErrors, code, detail);

export function definitionFor(defs: ReadonlyMap<string, IndexDefinition>, enabled: readonly string[], index: unknown): IndexDefinition {
  if (typeof index !== 'string' || !index) throw bad('search/invalid-input', 'index is required');
  const def = defs.get(index);
  if (!def || !enabled.includes(index)) throw bad('search/unknown-index', `no index named ${JSON.stringify(index.slice(0, 64))} (indexes: ${enabled.join(', ') || 'none'})`);
  return def;
}

/** The permission filter of the caller's role; `null` for admin (every row). */
export function permissionFor(def: IndexDefinition, session: Session): Record<string, unknown> | null {
  if (session.role === 'admin') return null;
  const p = def.permissions[session.role];
  if (!p) throw bad('search/forbidden', `role ${session.role} may not search index ${def.name}`);
  return p.filter;
}

export function encodeCursor(values: Array<string | number | null>, now: number): string {
  return Buffer.from(JSON.stringify({ v: values, n: now })).toString('base64url');
}

function decodeCursor(cursor: string, expected: number): { values: Array<string | number | null>; now: number } {
  if (cursor.length > 4096) throw bad('search/invalid-cursor', 'cursor is too long');
  try {
    const raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown; n?: unknown };
    if (!Array.isArray(raw.v) || raw.v.length !== expected || typeof raw.n !== 'number' || !Number.isFinite(raw.n)) throw new Error('shape');
    // Sort values may be NULL; the last value (the key) and a score never are.
    if (!raw.v.every((x, i) => (typeof x === 'string' && x.length <= 1024) || (typeof x === 'number' && Number.isFinite(x)) || (x === null && i < (raw.v as unknown[]).length - 1))) throw new Error('values');
    return { values: raw.v as Array<string | number | null>, now: raw.n };
  } catch {
    throw bad('search/invalid-cursor', 'the cursor is not one this index returned (ask again without it)');
  }
}

export function normalise(def: IndexDefinition, input: SearchRequest, maxLimit: number, maxQueryLength: number): NormalisedRequest {
  if (typeof input.q !== 'string') throw bad('search/invalid-input', 'q must be a string');
  // Lone surrogates and control characters carry no meaning for search and break some tokenisers.
  const q = input.q.slice(0, maxQueryLength).replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\ud800-\udfff]/g, (c, i, s: string) => {
    const code = c.charCodeAt(0);
    const pairOk = code < 0xdc00 ? /[\udc00-\udfff]/.test(s[i + 1] ?? '') : /[\ud800-\udbff]/.test(s[i - 1] ?? '');
    return pairOk ? c : ' ';
  });
  const filterable = new Set(def.filterable);
  let filters: Record<string, unknown> | null = null;
  if (input.filters !== undefined && input.filters !== null) {
    if (typeof input.filters !== 'object' || Array.isArray(input.filters)) throw bad('search/invalid-filter', 'filters must be an object like {"status": {"_eq": "ready"}}');
    if (JSON.stringify(input.filters).length > 16_384) throw bad('search/invalid-filter', 'filters are too large');
    filters = input.filters as Record<string, unknown>;
  }
  const facets = [...new Set(input.facets ?? [])];
  if (facets.length > MAX_FACETS) throw bad('search/invalid-facet', `at most ${MAX_FACETS} facets`);
  for (const f of facets) if (!filterable.has(f)) throw bad('search/invalid-facet', `${String(f).slice(0, 64)} is not a facet of ${def.name} (facets: ${def.filterable.join(', ') || 'none'})`);
  const sortable = new Set(def.sortable);
  const sort = (input.sort ?? []).map((s) => {
    const m = /^([a-z_][a-z0-9_]*)(?::(asc|desc))?$/.exec(String(s));
    if (!m || !sortable.has(m[1]!)) throw bad('search/invalid-sort', `${String(s).slice(0, 64)} is not a sort of ${def.name} (sortable: ${def.sortable.join(', ') || 'none'}, as column:asc or column:desc)`);
    return { column: m[1]!, desc: m[2] === 'desc' };
  });
  if (sort.length > 3) throw bad('search/invalid-sort', 'at most 3 sort columns');
  if (input.limit !== undefined && input.limit !== null && (!Number.isInteger(input.limit) || input.limit < 0)) throw bad('search/invalid-input', 'limit must be a non-negative integer');
  const limit = Math.min(input.limit ?? 20, maxLimit);
  const cursor = input.cursor ? decodeCursor(input.cursor, (sort.length || 1) + 1) : null;
  return { def, q, filters, facets, sort, limit, cursor, highlight: input.highlight ?? true };
}

/** FilterError (from a caller's filter) → 400. */
export function asFilterError(e: unknown): never {
  if (e instanceof FilterError) throw bad('search/invalid-filter', e.message);
  throw e;
}

/** Words of a query, lower-cased: letters and digits of any script. */
export function queryWords(q: string): string[] {
  return (q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 32);
}
