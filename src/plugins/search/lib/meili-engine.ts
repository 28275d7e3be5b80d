/**
 * The Meilisearch engine (the `meilisearch` client): index settings from the definitions, changes sent in
 * batches from `search.pending` (filled by the sync triggers, drained by jobs: see sync-job.ts; deletes included), a resumable backfill with its
 * checkpoint in `search.index_state`, searches under the caller's permission filter, and tenant tokens that let
 * a client query Meilisearch directly under that same filter.
 */
import { Meilisearch, type Task } from 'meilisearch';
import { generateTenantToken } from 'meilisearch/token';
import type { PluginRuntime, Queryable } from '../../../core/plugin.js';
import type { SearchConfig } from '../config.js';
import { filterColumns, FilterError, meiliString, SqlBuilder, toMeiliFilter } from './bool-exp.js';
import { hitColumns, qualified, relationshipsOf, whereSql, type IndexDefinition } from './definitions.js';
import { enqueueSync } from './sync-job.js';
import { asFilterError, encodeCursor, FACET_VALUES, FILTER_OPERATORS, queryWords, type NormalisedRequest, type SearchResult } from './query.js';

const q = (id: string) => `"${id}"`;
const PRE = '\u0001';
const POST = '\u0002';
const escapeHtml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Attributes a document carries: what hits show plus what permission filters read. */
export function documentColumns(d: IndexDefinition): string[] {
  const perm = Object.values(d.permissions).flatMap((p) => [...filterColumns(p.filter, relationshipsOf(d))]);
  return [...new Set([...hitColumns(d), ...perm])];
}

export function meiliSettings(d: IndexDefinition) {
  const byWeight = [...d.searchable].sort((a, b) => a.weight.localeCompare(b.weight)).map((s) => s.column);
  const perm = Object.values(d.permissions).flatMap((p) => [...filterColumns(p.filter, relationshipsOf(d))]);
  return {
    searchableAttributes: byWeight,
    filterableAttributes: [...new Set([d.primaryKey, ...d.filterable, ...perm, ...(d.tenantColumn ? [d.tenantColumn] : [])])].sort(),
    sortableAttributes: [...new Set([...d.sortable, ...(d.recencyColumn ? [d.recencyColumn] : [])])].sort(),
    displayedAttributes: ['*'],
  };
}

function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return Number(v);
  return v;
}

async function done(task: Promise<Task>, what: string): Promise<Task> {
  const t = await task;
  if (t.status !== 'succeeded') throw new Error(`Meilisearch ${what} ${t.status}: ${t.error?.message ?? 'no detail'}`);
  return t;
}

export class MeiliEngine {
  readonly client: Meilisearch;

  constructor(
    private readonly rt: PluginRuntime<SearchConfig>,
    private readonly defs: ReadonlyMap<string, IndexDefinition>,
  ) {
    const c = rt.config;
    if (!c.SEARCH_MEILISEARCH_URL) throw new Error('SEARCH_ENGINE=meilisearch needs SEARCH_MEILISEARCH_URL');
    this.client = new Meilisearch({ host: c.SEARCH_MEILISEARCH_URL, apiKey: c.SEARCH_MEILISEARCH_API_KEY || undefined });
  }

  private enabled(): IndexDefinition[] {
    return this.rt.config.SEARCH_INDEXES.map((n) => this.defs.get(n)!).filter(Boolean);
  }

  /**
   * Indexes exist with the definitions' settings. Changes left in `search.pending` by a previous run (a drain
   * that failed for good, or a stop in between) get their drain now.
   */
  async start(): Promise<void> {
    for (const d of this.enabled()) await this.ensureIndex(d);
    const left = await this.rt.db.query<{ index_name: string }>('SELECT DISTINCT index_name FROM search.pending WHERE index_name = ANY($1::text[])', [this.rt.config.SEARCH_INDEXES]);
    for (const r of left.rows) await enqueueSync(this.rt, this.rt.config, r.index_name);
  }

  async ensureIndex(d: IndexDefinition): Promise<void> {
    try {
      await this.client.getIndex(d.name);
    } catch (e) {
      if ((e as { cause?: { code?: string } }).cause?.code !== 'index_not_found') throw e;
      await done(this.client.createIndex(d.name, { primaryKey: d.primaryKey }).waitTask(), `createIndex ${d.name}`);
    }
    await done(this.client.index(d.name).updateSettings(meiliSettings(d)).waitTask(), `updateSettings ${d.name}`);
  }

  /**
   * Runs `fn` holding the index's write lock (a transaction-scoped advisory lock): drains of two sync windows,
   * and backfill pages, never interleave their read-the-rows and send-to-Meilisearch steps, so a document read
   * earlier can never be sent after one read later and overwrite it.
   */
  private locked<T>(d: IndexDefinition, fn: (db: Queryable) => Promise<T>): Promise<T> {
    return this.rt.db.tx(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`search.meilisearch:${d.name}`]);
      return fn(tx);
    });
  }

  /** Reads rows by primary key and turns them into documents (rows missing or outside the `where`: deleted). */
  private async documents(db: Queryable, d: IndexDefinition, ids: string[]): Promise<Map<string, Record<string, unknown>>> {
    const cols = documentColumns(d);
    const b = new SqlBuilder([ids]);
    const r = await db.query<Record<string, unknown>>(
      `SELECT ${cols.map((c) => `t.${q(c)}`).join(', ')}, t.${q(d.primaryKey)}::text AS __pk FROM ${qualified(d.table)} t
        WHERE t.${q(d.primaryKey)}::text = ANY($1::text[]) AND ${whereSql(d, 't', b)}`,
      b.params,
    );
    return new Map(r.rows.map((row) => [String(row.__pk), Object.fromEntries(cols.map((c) => [c, jsonValue(row[c])]))]));
  }

  /**
   * Sends one batch of an index's pending changes; returns how many changes it settled. A change that arrives
   * while its batch is in flight keeps its row (its enqueued_at is newer), so it goes in the next batch.
   */
  async flushIndex(name: string): Promise<number> {
    const d = this.defs.get(name);
    if (!d || !this.rt.config.SEARCH_INDEXES.includes(name)) return 0;
    return this.locked(d, async (db) => {
      // enqueued_at as text: a JS Date would drop the microseconds the comparison below needs.
      const pending = await db.query<{ doc_id: string; op: string; enqueued_at: string }>(
        'SELECT doc_id, op, enqueued_at::text AS enqueued_at FROM search.pending WHERE index_name = $1 ORDER BY enqueued_at LIMIT $2',
        [d.name, this.rt.config.SEARCH_SYNC_BATCH_SIZE],
      );
      if (!pending.rows.length) return 0;
      // A row that no longer exists, or no longer matches the definition's `where`, leaves the index.
      const docs = await this.documents(db, d, pending.rows.filter((p) => p.op === 'upsert').map((p) => p.doc_id));
      const upserts = [...docs.values()];
      const deletes = pending.rows.filter((p) => p.op === 'delete' || !docs.has(p.doc_id)).map((p) => p.doc_id);
      const index = this.client.index(d.name);
      if (upserts.length) await done(index.addDocuments(upserts, { primaryKey: d.primaryKey }).waitTask(), `addDocuments ${d.name}`);
      if (deletes.length) await done(index.deleteDocuments(deletes).waitTask(), `deleteDocuments ${d.name}`);
      await db.query(
        `DELETE FROM search.pending p USING unnest($2::text[], $3::timestamptz[]) AS s(doc_id, at)
          WHERE p.index_name = $1 AND p.doc_id = s.doc_id AND p.enqueued_at <= s.at`,
        [d.name, pending.rows.map((p) => p.doc_id), pending.rows.map((p) => p.enqueued_at)],
      );
      return pending.rows.length;
    });
  }

  /**
   * Copies the whole table into the index in primary-key order, resuming after the stored checkpoint; progress
   * (`backfilled` of `backfill_total`) is readable through `searchIndexStatus` while it runs.
   */
  async backfill(d: IndexDefinition, opts: { restart?: boolean } = {}): Promise<{ sent: number }> {
    const db = this.rt.db;
    await this.ensureIndex(d);
    const wb = new SqlBuilder();
    const where = whereSql(d, 't', wb);
    const total = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(d.table)} t WHERE ${where}`, wb.params);
    const state = await db.query<{ backfill_cursor: string | null; status: string }>(
      `INSERT INTO search.index_state (name, engine, status, backfill_total, started_at) VALUES ($1, 'meilisearch', 'backfilling', $2, now())
       ON CONFLICT (name) DO UPDATE SET status = 'backfilling', backfill_total = excluded.backfill_total,
         backfill_cursor = CASE WHEN $3 OR search.index_state.status <> 'backfilling' AND search.index_state.finished_at IS NOT NULL THEN NULL ELSE search.index_state.backfill_cursor END,
         backfilled = CASE WHEN $3 OR search.index_state.status <> 'backfilling' AND search.index_state.finished_at IS NOT NULL THEN 0 ELSE search.index_state.backfilled END,
         started_at = coalesce(search.index_state.started_at, now()), finished_at = NULL, last_error = NULL, updated_at = now()
       RETURNING backfill_cursor, status`,
      [d.name, Number(total.rows[0]!.n), !!opts.restart],
    );
    let cursor = state.rows[0]!.backfill_cursor;
    let sent = 0;
    const cols = documentColumns(d);
    try {
      for (;;) {
        const from = cursor;
        const last = await this.locked(d, async (ldb) => {
          const pb = new SqlBuilder([from, this.rt.config.SEARCH_SYNC_BATCH_SIZE]);
          const page = await ldb.query<Record<string, unknown>>(
            `SELECT ${cols.map((c) => `t.${q(c)}`).join(', ')}, t.${q(d.primaryKey)}::text AS __pk FROM ${qualified(d.table)} t
              WHERE ($1::text IS NULL OR t.${q(d.primaryKey)}::text > $1) AND ${whereSql(d, 't', pb)} ORDER BY t.${q(d.primaryKey)}::text LIMIT $2`,
            pb.params,
          );
          if (!page.rows.length) return null;
          const docs = page.rows.map((row) => Object.fromEntries(cols.map((c) => [c, jsonValue(row[c])])));
          await done(this.client.index(d.name).addDocuments(docs, { primaryKey: d.primaryKey }).waitTask(), `addDocuments ${d.name}`);
          const at = String(page.rows[page.rows.length - 1]!.__pk);
          // The checkpoint moves only after Meilisearch has the batch: a crash resends at most one batch.
          await ldb.query('UPDATE search.index_state SET backfill_cursor = $2, backfilled = backfilled + $3, updated_at = now() WHERE name = $1', [d.name, at, docs.length]);
          return { at, n: docs.length };
        });
        if (!last) break;
        cursor = last.at;
        sent += last.n;
      }
      await db.query(`UPDATE search.index_state SET status = 'idle', finished_at = now(), updated_at = now() WHERE name = $1`, [d.name]);
    } catch (e) {
      await db.query(`UPDATE search.index_state SET status = 'failed', last_error = $2, updated_at = now() WHERE name = $1`, [d.name, (e as Error).message.slice(0, 1000)]);
      throw e;
    }
    return { sent };
  }

  /** The Meilisearch filter of a role's permission plus the caller's own filters. */
  async filterFor(req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>): Promise<string | undefined> {
    const d = req.def;
    const none = `${d.primaryKey} NOT EXISTS`;
    const parts: string[] = [];
    if (permission) parts.push(await toMeiliFilter(permission, { table: d.table, relationships: relationshipsOf(d) }, this.rt.db, { session, none }));
    if (req.filters) {
      try {
        parts.push(await toMeiliFilter(req.filters, { table: d.table, allowedColumns: new Set(d.filterable) }, this.rt.db, { session: null, operators: FILTER_OPERATORS, none }));
      } catch (e) {
        asFilterError(e);
      }
    }
    const nonEmpty = parts.filter(Boolean);
    return nonEmpty.length ? nonEmpty.map((p) => `(${p})`).join(' AND ') : undefined;
  }

  async search(req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>): Promise<SearchResult> {
    const started = performance.now();
    const d = req.def;
    const filter = await this.filterFor(req, permission, session);
    const offset = req.cursor ? Number(req.cursor.values[0]) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new FilterError('cursor');
    const r = await this.client.index(d.name).search(req.q, {
      ...(filter ? { filter } : {}),
      limit: req.limit + 1,
      offset,
      ...(req.facets.length ? { facets: req.facets } : {}),
      ...(req.sort.length ? { sort: req.sort.map((s) => `${s.column}:${s.desc ? 'desc' : 'asc'}`) } : {}),
      // Meilisearch does not escape the text around its tags: control characters mark the matches, the text is
      // escaped, then the marks become <mark>.
      ...(req.highlight ? { attributesToHighlight: d.searchable.map((s) => s.column), highlightPreTag: PRE, highlightPostTag: POST } : {}),
      showRankingScore: true,
    });
    const more = r.hits.length > req.limit;
    const cols = hitColumns(d);
    const hits = r.hits.slice(0, req.limit).map((h) => {
      const doc = h as Record<string, unknown> & { _formatted?: Record<string, unknown>; _rankingScore?: number };
      const highlights: Record<string, string> = {};
      for (const s of d.searchable) {
        const f = doc._formatted?.[s.column];
        if (typeof f === 'string' && f.includes(PRE)) highlights[s.column] = escapeHtml(f).replaceAll(PRE, '<mark>').replaceAll(POST, '</mark>');
      }
      return {
        id: String(doc[d.primaryKey]),
        score: doc._rankingScore ?? 0,
        document: Object.fromEntries(cols.map((c) => [c, doc[c] ?? null])),
        highlights: Object.keys(highlights).length ? highlights : null,
      };
    });
    const facets = req.facets.length
      ? Object.fromEntries(
          req.facets.map((f) => [
            f,
            Object.entries((r.facetDistribution ?? {})[f] ?? {})
              .map(([value, count]) => ({ value, count: Number(count) }))
              .sort((a, b) => b.count - a.count || a.value.localeCompare(b.value))
              .slice(0, FACET_VALUES),
          ]),
        )
      : null;
    const pad = Array.from({ length: (req.sort.length || 1) }, () => '');
    return {
      index: d.name,
      hits,
      query: req.q,
      processingTimeMs: Math.round(performance.now() - started),
      estimatedTotal: Number((r as { estimatedTotalHits?: number }).estimatedTotalHits ?? hits.length),
      facets,
      didYouMean: null,
      cursor: more ? encodeCursor([offset + req.limit, ...pad], Date.now()) : null,
    };
  }

  /** Completions of the last word from the lexicon, each confirmed by a search under the caller's filter. */
  async suggest(req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>, limit: number): Promise<string[]> {
    const words = queryWords(req.q);
    const last = words[words.length - 1];
    if (!last) return [];
    const cand = await this.rt.db.query<{ term: string }>(
      `SELECT term FROM search.lexicon WHERE index_name = $1 AND term LIKE $2 ESCAPE '\\' ORDER BY frequency DESC, term LIMIT 50`,
      [req.def.name, last.replace(/[\\%_]/g, '\\$&') + '%'],
    );
    const filter = await this.filterFor(req, permission, session);
    const head = words.slice(0, -1).join(' ');
    const out: string[] = [];
    for (const { term } of cand.rows) {
      if (out.length >= limit) break;
      const phrase = head ? `${head} ${term}` : term;
      const r = await this.client.index(req.def.name).search(phrase, { ...(filter ? { filter } : {}), limit: 1, matchingStrategy: 'all' });
      if (r.hits.length) out.push(phrase);
    }
    return out;
  }

  /** A tenant token for these indexes: each search rule is the role's permission filter with the caller's session. */
  async tenantToken(defs: IndexDefinition[], permissions: Array<Record<string, unknown> | null>, session: Record<string, string>): Promise<{ token: string; expiresAt: string }> {
    const c = this.rt.config;
    const sep = c.SEARCH_MEILISEARCH_SEARCH_KEY.indexOf(':');
    if (sep <= 0) throw new Error('SEARCH_MEILISEARCH_SEARCH_KEY must be "uid:key" to sign tenant tokens');
    const rules: Record<string, { filter?: string } | null> = {};
    for (let i = 0; i < defs.length; i++) {
      const d = defs[i]!;
      const p = permissions[i];
      const filter = p ? await toMeiliFilter(p, { table: d.table, relationships: relationshipsOf(d) }, this.rt.db, { session, none: `${d.primaryKey} NOT EXISTS` }) : '';
      rules[d.name] = filter ? { filter } : null;
    }
    const expiresAt = new Date(Date.now() + c.SEARCH_TENANT_TOKEN_TTL_SECONDS * 1000);
    const token = await generateTenantToken({
      apiKeyUid: c.SEARCH_MEILISEARCH_SEARCH_KEY.slice(0, sep),
      apiKey: c.SEARCH_MEILISEARCH_SEARCH_KEY.slice(sep + 1),
      searchRules: rules as never,
      expiresAt,
    });
    return { token, expiresAt: expiresAt.toISOString() };
  }
}

export { meiliString };
