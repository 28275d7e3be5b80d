/**
 * The PostgreSQL engine: full-text search on an expression GIN index of each definition's weighted tsvector,
 * web-search query parsing (`websearch_to_tsquery` accepts any input), typo correction against the index's
 * lexicon (pg_trgm), `ts_headline` highlights, facets with counts, relevance × recency ranking and keyset
 * pagination. The caller's permission filter and own filters are compiled into the same statement, so hits,
 * counts, facets, highlights and corrections only ever come from rows the caller may see.
 */
import { ActionError } from '../../../core/errors.js';
import type { Queryable } from '../../../core/plugin.js';
import { SqlBuilder, toSql } from './bool-exp.js';
import { hitColumns, qualified, relationshipsOf, tsConfig, whereSql, type IndexDefinition } from './definitions.js';
import { asFilterError, encodeCursor, searchErrors, FACET_VALUES, FILTER_OPERATORS, queryWords, type NormalisedRequest, type SearchHit, type SearchResult } from './query.js';

const q = (id: string) => `"${id}"`;
/** Counting stops here: the total is an estimate above it. */
export const COUNT_CAP = 10_000;
/** Relevance halves for every this many days of age (when the index has a recency column). */
const RECENCY_HALF_LIFE_DAYS = 30;

/** The weighted tsvector of a row aliased `alias`: the same text as the GIN index expression. */
export function tsvectorSql(d: IndexDefinition, alias: string): string {
  const cfg = `'${tsConfig(d)}'::regconfig`;
  return d.searchable.map((s) => `setweight(to_tsvector(${cfg}, coalesce(${alias}.${q(s.column)}::text, '')), '${s.weight}')`).join(' || ');
}

export function indexName(d: IndexDefinition): string {
  return `search_${d.name}_tsv`.slice(0, 63);
}

/** Creates the expression GIN index the queries use (idempotent). */
export async function ensurePgIndex(db: Queryable, d: IndexDefinition): Promise<void> {
  const expr = tsvectorSql(d, q(d.table.name)).replaceAll(`${q(d.table.name)}.`, '');
  await db.query(`CREATE INDEX IF NOT EXISTS ${q(indexName(d))} ON ${qualified(d.table)} USING gin ((${expr}))`);
}

/** Words as the lexicon stores them: lower-case, without accents, any language. */
const LEXICON_WORDS = (textSql: string) =>
  `SELECT word, count(*) AS n FROM regexp_split_to_table(search.immutable_unaccent(lower(${textSql})), '[^[:alnum:]]+') AS word WHERE length(word) BETWEEN 2 AND 64 GROUP BY word`;

/** Rebuilds an index's lexicon from its table (reindex). */
export async function rebuildLexicon(db: Queryable, d: IndexDefinition): Promise<number> {
  const text = d.searchable.map((s) => `coalesce(t.${q(s.column)}::text, '')`).join(` || ' ' || `);
  await db.query('DELETE FROM search.lexicon WHERE index_name = $1', [d.name]);
  const r = await db.query(
    `INSERT INTO search.lexicon (index_name, term, frequency)
     SELECT $1, w.word, sum(w.n) FROM ${qualified(d.table)} t, LATERAL (${LEXICON_WORDS(text)}) w GROUP BY w.word`,
    [d.name],
  );
  return r.rowCount ?? 0;
}

/** Adds a row's words to the lexicon (sync). Counts only grow: a deleted word stays a correction candidate, but is never offered without a visible hit. */
export async function addToLexicon(db: Queryable, d: IndexDefinition, row: Record<string, unknown>): Promise<void> {
  const text = d.searchable.map((s) => (row[s.column] === null || row[s.column] === undefined ? '' : String(row[s.column]))).join(' ');
  if (!text.trim()) return;
  await db.query(
    `INSERT INTO search.lexicon (index_name, term, frequency) SELECT $1, w.word, w.n FROM (${LEXICON_WORDS('$2::text')}) w
     ON CONFLICT (index_name, term) DO UPDATE SET frequency = search.lexicon.frequency + excluded.frequency`,
    [d.name, text],
  );
}

/**
 * Query words the lexicon does not know, each with its closest known word: at most one edit for short words,
 * two from five letters on (Levenshtein), then the most frequent. Candidates share the first letter or enough
 * trigrams, so the lexicon's indexes narrow the scan.
 */
async function corrections(db: Queryable, d: IndexDefinition, words: string[]): Promise<Map<string, string>> {
  const candidates = [...new Set(words.filter((w) => w.length >= 3 && !/^\d+$/.test(w)).map((w) => w.normalize('NFD').replace(/\p{M}/gu, '')))];
  if (!candidates.length) return new Map();
  const r = await db.query<{ word: string; term: string | null }>(
    `SELECT w.word, (SELECT l.term FROM search.lexicon l
                      WHERE l.index_name = $1
                        AND (l.term LIKE left(w.word, 1) || '%' OR l.term % w.word)
                        AND length(l.term) BETWEEN length(w.word) - 2 AND length(w.word) + 2
                        AND levenshtein_less_equal(l.term, w.word, CASE WHEN length(w.word) >= 5 THEN 2 ELSE 1 END) <= CASE WHEN length(w.word) >= 5 THEN 2 ELSE 1 END
                      ORDER BY levenshtein_less_equal(l.term, w.word, 2), l.frequency DESC, l.term LIMIT 1) AS term
       FROM unnest($2::text[]) AS w(word)
      WHERE NOT EXISTS (SELECT 1 FROM search.lexicon l WHERE l.index_name = $1 AND l.term = w.word)`,
    [d.name, candidates],
  );
  return new Map(r.rows.filter((x) => x.term).map((x) => [x.word, x.term!]));
}

function escapeHtmlSql(expr: string): string {
  return `replace(replace(replace(${expr}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')`;
}

interface Compiled {
  sql: string;
  params: unknown[];
}

/**
 * The rows the caller may see that match: `FROM table t WHERE …` with `tsq` bound to the query's tsquery
 * (`NULL` for an empty query, which lists everything visible).
 */
function baseWhere(req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>, b: SqlBuilder, tsqParam: string | null, altParam: string | null): string {
  const d = req.def;
  const conds: string[] = [];
  const cfg = `'${tsConfig(d)}'::regconfig`;
  if (tsqParam) {
    const match = `(${tsvectorSql(d, 't')}) @@ websearch_to_tsquery(${cfg}, ${tsqParam})`;
    const alt = altParam ? ` OR (${tsvectorSql(d, 't')}) @@ websearch_to_tsquery(${cfg}, ${altParam})` : '';
    conds.push(`(${match}${alt})`);
  }
  if (d.where) conds.push(`(${whereSql(d, 't', b)})`);
  if (permission) conds.push(`(${toSql(permission, { table: d.table, relationships: relationshipsOf(d) }, 't', b, { session })})`);
  if (req.filters) {
    try {
      conds.push(`(${toSql(req.filters, { table: d.table, allowedColumns: new Set(d.filterable) }, 't', b, { session: null, operators: FILTER_OPERATORS })})`);
    } catch (e) {
      asFilterError(e);
    }
  }
  return conds.length ? conds.join(' AND ') : 'true';
}

export async function pgSearch(db: Queryable, req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>): Promise<SearchResult> {
  const started = performance.now();
  const d = req.def;
  const words = queryWords(req.q);
  const fixes = words.length ? await corrections(db, d, words) : new Map<string, string>();
  const corrected = fixes.size ? req.q.replace(/[\p{L}\p{N}]+/gu, (w) => fixes.get(w.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '')) ?? w) : null;

  const b = new SqlBuilder();
  const tsq = words.length ? b.param(req.q) : null;
  const alt = corrected ? b.param(corrected) : null;
  const where = baseWhere(req, permission, session, b, tsq, alt);
  const cfg = `'${tsConfig(d)}'::regconfig`;
  const now = req.cursor?.now ?? Date.now();
  const nowParam = d.recencyColumn ? b.param(new Date(now).toISOString()) : '';
  const rank = tsq
    ? `ts_rank_cd(${tsvectorSql(d, 't')}, websearch_to_tsquery(${cfg}, ${alt ?? tsq}), 32)` + (alt ? ` + ts_rank_cd(${tsvectorSql(d, 't')}, websearch_to_tsquery(${cfg}, ${tsq}), 32)` : '')
    : '1';
  const recency = d.recencyColumn
    ? ` / (1 + greatest(0, extract(epoch from (${nowParam}::timestamptz - t.${q(d.recencyColumn)})) / 86400.0) / ${RECENCY_HALF_LIFE_DAYS})`
    : '';
  const score = `((${rank})${recency})::float8`;
  const cols = hitColumns(d);
  // Keyset: (sort columns…, pk) or (score, pk), all descending unless a sort says otherwise.
  const keys = req.sort.length ? req.sort.map((s) => ({ expr: `s.${q(s.column)}`, desc: s.desc })) : [{ expr: 's.__score', desc: true }];
  const order = [...keys.map((k) => `${k.expr} ${k.desc ? 'DESC' : 'ASC'} NULLS LAST`), `s.__pk DESC`].join(', ');
  let keyset = 'true';
  if (req.cursor) {
    // Row comparison needs one direction; with mixed directions compare key by key. Sort values are compared
    // in the column's own type (the parameter's type is inferred from the column, and the cursor holds
    // PostgreSQL's own text of the value, so timestamps keep their microseconds and numbers compare as
    // numbers); NULLs sort last whatever the direction, as the ORDER BY says.
    const all = [...keys, { expr: 's.__pk', desc: true }];
    const conds = all.map((k, i) => {
      const v = req.cursor!.values[i];
      if (k.expr === 's.__score') {
        const p = b.param(v);
        return { eq: `${k.expr} = ${p}::float8`, after: `${k.expr} ${k.desc ? '<' : '>'} ${p}::float8` };
      }
      if (k.expr === 's.__pk') {
        const p = b.param(v);
        return { eq: `${k.expr} = ${p}::text`, after: `${k.expr} < ${p}::text` };
      }
      if (v === null) return { eq: `${k.expr} IS NULL`, after: 'false' };
      const p = b.param(v);
      return { eq: `${k.expr} = ${p}`, after: `(${k.expr} ${k.desc ? '<' : '>'} ${p} OR ${k.expr} IS NULL)` };
    });
    const ors = conds.map((c, i) => [...conds.slice(0, i).map((e) => e.eq), c.after].join(' AND '));
    keyset = `(${ors.join(' OR ')})`;
  }
  const sortText = req.sort.map((c, i) => `, t.${q(c.column)}::text AS __k${i}`).join('');
  const inner = `SELECT ${cols.map((c) => `t.${q(c)}`).join(', ')}, t.${q(d.primaryKey)}::text AS __pk, ${score} AS __score${sortText} FROM ${qualified(d.table)} t WHERE ${where}`;
  const page = `SELECT * FROM (${inner}) s WHERE ${keyset} ORDER BY ${order} LIMIT ${req.limit + 1}`;
  const highlight = req.highlight && tsq
    ? `, ${d.searchable.map((s) => `CASE WHEN to_tsvector(${cfg}, coalesce(p.${q(s.column)}::text, '')) @@ websearch_to_tsquery(${cfg}, ${alt ?? tsq}) THEN ts_headline(${cfg}, ${escapeHtmlSql(`coalesce(p.${q(s.column)}::text, '')`)}, websearch_to_tsquery(${cfg}, ${alt ?? tsq}), 'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=20, MinWords=5') END AS ${q(`__hl_${s.column}`)}`).join(', ')}`
    : '';
  // Counts and facets over the same visible, matching rows (the keyset does not narrow them). They need only
  // the corrections, so they run beside the page, each on its own connection: a search waits for its slowest
  // statement instead of the sum of them.
  const cb = new SqlBuilder();
  const ctsq = words.length ? cb.param(req.q) : null;
  const calt = corrected ? cb.param(corrected) : null;
  const cwhere = baseWhere(req, permission, session, cb, ctsq, calt);
  const [rows, count, ...facetRows] = await Promise.all([
    db.query<Record<string, unknown>>(`SELECT p.*${highlight} FROM (${page}) p ORDER BY ${order.replaceAll('s.', 'p.')}`, b.params),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${qualified(d.table)} t WHERE ${cwhere} LIMIT ${COUNT_CAP}) c`, cb.params),
    ...req.facets.map((f) =>
      db.query<{ value: string | null; count: number }>(
        `SELECT t.${q(f)}::text AS value, count(*)::int AS count FROM ${qualified(d.table)} t WHERE ${cwhere} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${FACET_VALUES}`,
        cb.params,
      ),
    ),
  ]).catch(async (e: unknown) => {
    // A data exception may come from a tampered cursor rather than a filter value: tell them apart only then.
    if (isDataException(e) && req.cursor && req.sort.length) await checkCursorValues(db, req);
    throw e;
  });
  const facets: SearchResult['facets'] = req.facets.length ? Object.fromEntries(req.facets.map((f, i) => [f, facetRows[i]!.rows])) : null;

  const more = rows.rows.length > req.limit;
  const pageRows = rows.rows.slice(0, req.limit);
  const hits: SearchHit[] = pageRows.map((r) => {
    const document: Record<string, unknown> = {};
    for (const c of cols) document[c] = r[c] instanceof Date ? (r[c] as Date).toISOString() : r[c];
    const highlights: Record<string, string> = {};
    for (const s of d.searchable) if (typeof r[`__hl_${s.column}`] === 'string') highlights[s.column] = r[`__hl_${s.column}`] as string;
    return { id: String(r.__pk), score: Number(r.__score), document, highlights: Object.keys(highlights).length ? highlights : null };
  });
  let cursor: string | null = null;
  if (more && pageRows.length) {
    const last = pageRows[pageRows.length - 1]!;
    const vals = req.sort.length ? req.sort.map((_, i) => (last[`__k${i}`] ?? null) as string | null) : [Number(last.__score)];
    cursor = encodeCursor([...vals, String(last.__pk)], now);
  }
  return {
    index: d.name,
    hits,
    query: req.q,
    processingTimeMs: Math.round(performance.now() - started),
    estimatedTotal: count.rows[0]!.n,
    facets,
    didYouMean: corrected && hits.length ? corrected : null,
    cursor,
  };
}

const isDataException = (e: unknown) => typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('22');

/**
 * A cursor's sort values must read as their columns' types. Checked on their own (each parameter's type is
 * inferred from its column) so that a tampered cursor is `search/invalid-cursor`, not a filter error; run only
 * after a search failed with a data exception, so a good page costs no extra round trip.
 */
async function checkCursorValues(db: Queryable, req: NormalisedRequest): Promise<void> {
  const params: unknown[] = [];
  const probes = req.sort.flatMap((s, i) => {
    const v = req.cursor!.values[i];
    if (v === null || v === undefined) return [];
    params.push(v);
    return [`(SELECT t.${q(s.column)} FROM ${qualified(req.def.table)} t WHERE false) IS NOT DISTINCT FROM $${params.length}`];
  });
  if (!probes.length) return;
  try {
    await db.query(`SELECT ${probes.join(', ')}`, params);
  } catch (e) {
    if (isDataException(e)) {
      throw ActionError.from(searchErrors, 'search/invalid-cursor', 'the cursor is not one this index returned (ask again without it)');
    }
    throw e;
  }
}

/**
 * Completions of the last word: lexicon words with that prefix, most frequent first, each kept only when a row
 * the caller may see contains it (so no word of someone else's private rows is ever offered).
 */
export async function pgSuggest(db: Queryable, req: NormalisedRequest, permission: Record<string, unknown> | null, session: Record<string, string>, limit: number): Promise<string[]> {
  const d = req.def;
  const words = queryWords(req.q);
  const last = words[words.length - 1];
  if (!last) return [];
  const prefix = last.normalize('NFD').replace(/\p{M}/gu, '');
  const cand = await db.query<{ term: string }>(
    `SELECT term FROM search.lexicon WHERE index_name = $1 AND term LIKE $2 ESCAPE '\\' ORDER BY frequency DESC, term LIMIT 50`,
    [d.name, prefix.replace(/[\\%_]/g, '\\$&') + '%'],
  );
  const out: string[] = [];
  const head = words.slice(0, -1).join(' ');
  for (const { term } of cand.rows) {
    if (out.length >= limit) break;
    const b = new SqlBuilder();
    const phrase = b.param(head ? `${head} ${term}` : term);
    const where = baseWhere({ ...req, filters: req.filters }, permission, session, b, phrase, null);
    const hit = await db.query(`SELECT 1 FROM ${qualified(d.table)} t WHERE ${where} LIMIT 1`, b.params);
    if (hit.rows.length) out.push(head ? `${head} ${term}` : term);
  }
  return out;
}
