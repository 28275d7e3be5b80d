/**
 * Search (src/plugins/search/README.md): one search, completions, several indexes at once, and a debounced
 * search box. Every search runs with the caller's session, so the plugin answers only rows the caller may see.
 *
 * The debounced search waits `debounceMs` after the last keystroke, aborts the request of a search it replaces,
 * and never lets an older answer overwrite a newer one: an answer counts only while its search is the latest.
 */
import type { NselfClient } from './core.js';
import { NselfError } from './errors.js';
import {
  MultiSearchDocument,
  SearchQueryDocument,
  SearchSuggestDocument,
  type SearchMultiQuery as SearchMultiQueryInput,
  type SearchQueryQuery,
} from './generated/operations.js';

type RawResult = SearchQueryQuery['searchQuery'];
export type SearchHit = RawResult['hits'][number];

/** One search's answer: the plugin's `SearchResult` with `processingTimeMs` as `processingTime` (milliseconds). */
export interface SearchResults {
  index: string;
  hits: SearchHit[];
  /** The query the plugin searched (cut to SEARCH_MAX_QUERY_LENGTH). */
  query: string;
  /** Milliseconds the plugin spent. */
  processingTime: number;
  estimatedTotal: number;
  /** `{column: [{value, count}]}` for the asked facets, or null. */
  facets: unknown;
  didYouMean: string | null;
  /** Pass back as `cursor` for the next page; null on the last one. */
  cursor: string | null;
}

export interface SearchParams {
  /** `{column: {_eq: …}}` on the index's filterable columns. */
  filters?: Record<string, unknown>;
  facets?: string[];
  /** `["created_at:desc"]` on sortable columns (default: relevance). */
  sort?: string[];
  limit?: number;
  cursor?: string | null;
  /** `<mark>` highlights in `hits[].highlights` (default: the plugin's, on). */
  highlight?: boolean;
}

export interface SearchMultiQuery extends SearchParams {
  index: string;
  q: string;
}

const toResults = (r: RawResult): SearchResults => ({
  index: r.index,
  hits: r.hits,
  query: r.query,
  processingTime: r.processingTimeMs,
  estimatedTotal: r.estimatedTotal,
  facets: r.facets,
  didYouMean: r.didYouMean,
  cursor: r.cursor,
});

const params = (p: SearchParams) => ({
  filters: p.filters ?? null,
  facets: p.facets ?? null,
  sort: p.sort ?? null,
  limit: p.limit ?? null,
  cursor: p.cursor ?? null,
  highlight: p.highlight ?? null,
});

export interface DebouncedSearchOptions extends SearchParams {
  /** Quiet time after the last call before the request is sent (default 200 ms). */
  debounceMs?: number;
  /** Shorter queries (after trimming) send nothing and answer no hits (default 1: an empty box searches nothing). */
  minQueryLength?: number;
  /** Called with every search's outcome that is still the latest: results, or an error. */
  onResults?(results: SearchResults): void;
  onError?(error: NselfError): void;
  /** Called when a search starts waiting (true) and when the latest one settles (false). */
  onLoading?(loading: boolean): void;
}

export interface DebouncedSearch {
  /**
   * Searches `q` once calls stop for `debounceMs`. Resolves with the answer that is current when it settles: its
   * own, or that of a newer call that replaced it (whose request cancelled this one's). Rejects with the latest
   * search's error; `dispose()` rejects what is pending with `aborted`.
   */
  search(q: string, overrides?: SearchParams): Promise<SearchResults>;
  /** Stops the pending search and its request (the last results stay). */
  cancel(): void;
  dispose(): void;
}

/** An answer of no hits for a query too short to send. */
const empty = (index: string, q: string): SearchResults => ({ index, hits: [], query: q, processingTime: 0, estimatedTotal: 0, facets: null, didYouMean: null, cursor: null });

export function createSearch(client: NselfClient) {
  const searchQuery = async (index: string, q: string, p: SearchParams & { signal?: AbortSignal } = {}): Promise<SearchResults> =>
    toResults((await client.request(SearchQueryDocument, { index, q, ...params(p) }, p.signal ? { signal: p.signal } : {})).searchQuery);

  const searchSuggest = async (index: string, q: string, p: { limit?: number; signal?: AbortSignal } = {}): Promise<string[]> =>
    (await client.request(SearchSuggestDocument, { index, q, limit: p.limit ?? null }, p.signal ? { signal: p.signal } : {})).searchSuggest.suggestions;

  const searchMulti = async (queries: SearchMultiQuery[], p: { signal?: AbortSignal } = {}): Promise<SearchResults[]> => {
    const input: SearchMultiQueryInput[] = queries.map((x) => ({ index: x.index, q: x.q, ...params(x) }));
    return (await client.request(MultiSearchDocument, { queries: input }, p.signal ? { signal: p.signal } : {})).searchMulti.results.map(toResults);
  };

  function debounced(index: string, options: DebouncedSearchOptions = {}): DebouncedSearch {
    const wait = options.debounceMs ?? 200;
    const minLength = options.minQueryLength ?? 1;
    let generation = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: AbortController | undefined;
    let disposed = false;
    /** Callers whose search has not settled yet: all of them get the latest search's outcome. */
    let waiting: { resolve(r: SearchResults): void; reject(e: NselfError): void }[] = [];

    const settle = (outcome: { results: SearchResults } | { error: NselfError }) => {
      const callers = waiting;
      waiting = [];
      options.onLoading?.(false);
      if ('results' in outcome) {
        options.onResults?.(outcome.results);
        for (const c of callers) c.resolve(outcome.results);
      } else {
        options.onError?.(outcome.error);
        for (const c of callers) c.reject(outcome.error);
      }
    };

    const stop = () => {
      clearTimeout(timer);
      timer = undefined;
      controller?.abort();
      controller = undefined;
    };

    const cancel = () => {
      stop();
      generation++;
      const callers = waiting;
      waiting = [];
      if (callers.length) options.onLoading?.(false);
      for (const c of callers) c.reject(new NselfError('the search was cancelled', 'aborted'));
    };

    return {
      search(q, overrides = {}) {
        if (disposed) return Promise.reject(new NselfError('the search was disposed', 'aborted'));
        stop();
        const mine = ++generation;
        const promise = new Promise<SearchResults>((resolve, reject) => waiting.push({ resolve, reject }));
        if (q.trim().length < minLength) {
          settle({ results: empty(index, q) });
          return promise;
        }
        if (waiting.length === 1) options.onLoading?.(true);
        timer = setTimeout(() => {
          timer = undefined;
          const ac = new AbortController();
          controller = ac;
          searchQuery(index, q, { ...options, ...overrides, signal: ac.signal }).then(
            (results) => {
              if (mine === generation && !disposed) settle({ results });
            },
            (e: unknown) => {
              // A replaced search's failure (its own abort included) is not news: the newer one will settle.
              if (mine !== generation || disposed) return;
              settle({ error: e instanceof NselfError ? e : new NselfError(String((e as Error)?.message ?? e), 'network') });
            },
          );
        }, wait);
        return promise;
      },
      cancel,
      dispose() {
        cancel();
        disposed = true;
      },
    };
  }

  return { searchQuery, searchSuggest, searchMulti, debounced };
}

export type Search = ReturnType<typeof createSearch>;
