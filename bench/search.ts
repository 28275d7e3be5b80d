/**
 * Search on a generated chat corpus (default 1,000,000 messages; `SEARCH_BENCH_MESSAGES` for quicker runs) whose
 * words follow a Zipf distribution, on the PostgreSQL engine:
 * - searchQuery through the real handler server (HTTP, dispatcher, session, permission filter) against the same
 *   SQL run directly (the engine function on the pool), p50/p95, same run: ratio direct / action. The client is
 *   node:http on one kept-alive connection, as Hasura's own HTTP client calls the handlers; Node's `fetch` costs
 *   about a millisecond of CPU per call in this very process (measured: reported beside it), which is the bench's
 *   own cost, not the handler path's;
 * - the speed-up over a naive `ILIKE '%q%'` scan under the same permission filter;
 * - typo tolerance: 200 queries of three words of a message with one typo; the message in the top 10;
 * - sync: 10,000 inserts delivered by the harness to the sync handler until searchable, documents/s.
 */
import { join } from 'node:path';
import http from 'node:http';
import { mkdtempSync, cpSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { install } from '../src/hasura/installer.js';
import { suiteCatalog } from '../src/hasura/catalog.js';
import { createHasuraHarness } from '../src/testing/index.js';
import { searchPlugin } from '../src/plugins/search/plugin.js';
import { loadDefinitions } from '../src/plugins/search/lib/definitions.js';
import { pgSearch, rebuildLexicon } from '../src/plugins/search/lib/pg-engine.js';
import { normalise } from '../src/plugins/search/lib/query.js';
import { createScratchDatabase } from '../test/support/db.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const DEFINITIONS = join(root, 'src/plugins/search/examples/chat-definitions.json');
const SECRET = 'search-bench-secret-0123456789abcdef';
const USER = '00000000-0000-4000-8000-00000000000a';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export async function run(): Promise<Record<string, unknown>> {
  const messages = Number(process.env.SEARCH_BENCH_MESSAGES ?? 1_000_000);
  const vocabulary = 20_000;
  const project = mkdtempSync(join(tmpdir(), 'nself-search-bench-'));
  cpSync(join(root, 'test/fixtures/projects/chat'), join(project, 'hasura'), { recursive: true });
  install({ projectDir: join(project, 'hasura'), catalog: suiteCatalog(), plugins: ['search'], options: [{ name: 'index', value: 'nchat_messages' }, { name: 'definitions', value: DEFINITIONS }], envDir: null });
  const db = await createScratchDatabase('search_bench');
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  // The scratch database is dropped WITH (FORCE) at the end, which may reach a connection still closing.
  pool.on('error', () => undefined);
  try {
    await pool.query(readFileSync(join(project, 'hasura/migrations/default/1700000000000_init/up.sql'), 'utf8'));
    // 50 channels, the user in 10 of them; a Zipf vocabulary (rank r drawn with probability ∝ 1/r).
    const t0 = performance.now();
    await pool.query(`
      insert into public.users (id, display_name) values ('${USER}', 'Bench User');
      insert into public.channels (id, name, is_private) select ('10000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'c' || g, g % 2 = 0 from generate_series(1, 50) g;
      insert into public.channel_members (channel_id, user_id) select ('10000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '${USER}' from generate_series(1, 10) g;
      create temporary table words as
        select r as rank, (select string_agg(substr('abcdefghijklmnoprstuvwyz', 1 + ((r * 7919 + k * 104729) % 24)::int, 1), '') from generate_series(1, 4 + r % 6) k) || r::text as word
          from generate_series(1, ${vocabulary}) r;
      create unique index on words (rank);`);
    await pool.query(`
      insert into public.messages (channel_id, author_id, body, created_at)
      select ('10000000-0000-4000-8000-' || lpad((1 + g % 50)::text, 12, '0'))::uuid, '${USER}',
             (select string_agg(w.word, ' ')
                from (select least(${vocabulary}, floor(exp(random() * ln(${vocabulary}))))::int as r from generate_series(1, 6 + (g % 10)) k) x
                join words w on w.rank = x.r),
             now() - (g % 100000) * interval '1 minute'
        from generate_series(1, ${messages}) g`);
    const generatedMs = performance.now() - t0;

    const runtime = await createRuntime(
      { DATABASE_URL: db.url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent', SEARCH_INDEXES: 'nchat_messages', SEARCH_DEFINITIONS_FILE: DEFINITIONS },
      { plugins: [searchPlugin] },
    );
    const server = createServer(runtime);
    const { url } = await server.listen(0, '127.0.0.1');
    const def = loadDefinitions(DEFINITIONS).get('nchat_messages')!;
    const t1 = performance.now();
    await pool.query('analyze public.messages');
    const terms = await rebuildLexicon(pool, def);
    const lexiconMs = performance.now() - t1;

    // Queries: two mid-frequency words of random visible messages.
    const sample = await pool.query<{ id: string; body: string }>(
      `select m.id, m.body from public.messages m join public.channel_members cm on cm.channel_id = m.channel_id and cm.user_id = '${USER}' order by random() limit 400`,
    );
    const session = { 'x-hasura-role': 'user', 'x-hasura-user-id': USER };
    const permission = def.permissions.user!.filter;
    const queries = sample.rows.slice(0, 200).map((r) => r.body.split(' ').slice(0, 2).join(' '));
    const actionBody = (q: string) => JSON.stringify({ action: { name: 'searchQuery' }, input: { index: 'nchat_messages', q, limit: 20 }, session_variables: session, request_query: '' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const target = new URL(url);
    const action = (q: string) =>
      new Promise<void>((resolve, reject) => {
        const body = actionBody(q);
        const req = http.request(
          { host: target.hostname, port: target.port, path: '/actions/searchQuery', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-nself-plugins-secret': SECRET } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode !== 200) reject(new Error(`searchQuery ${res.statusCode}: ${text}`));
              else {
                JSON.parse(text);
                resolve();
              }
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const actionByFetch = async (q: string) => {
      const res = await fetch(`${url}/actions/searchQuery`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET }, body: actionBody(q) });
      if (res.status !== 200) throw new Error(`searchQuery ${res.status}: ${await res.text()}`);
      await res.json();
    };
    const direct = async (q: string) => {
      await pgSearch(pool, normalise(def, { index: 'nchat_messages', q, limit: 20 }, 100, 512), permission, session);
    };
    const ilike = async (q: string) => {
      await pool.query(
        `select m.id from public.messages m where m.body ilike $1 and m.deleted_at is null
            and exists (select 1 from public.channels c where c.id = m.channel_id and exists (select 1 from public.channel_members cm where cm.channel_id = c.id and cm.user_id::text = $2))
          order by m.created_at desc limit 20`,
        [`%${q}%`, USER],
      );
    };
    const time = async (fn: (q: string) => Promise<void>, qs: string[]) => {
      const out: number[] = [];
      for (const q of qs) {
        const s = performance.now();
        await fn(q);
        out.push(performance.now() - s);
      }
      return out;
    };
    await time(direct, queries.slice(0, 20));
    await time(action, queries.slice(0, 20));
    await time(actionByFetch, queries.slice(0, 20));
    // Interleaved rounds of 20 queries, the order of the sides turning each round, so no side always finds the
    // cache warmed by another.
    const a: number[] = [];
    const d: number[] = [];
    const f: number[] = [];
    const sides: Array<[(q: string) => Promise<void>, number[]]> = [[direct, d], [action, a], [actionByFetch, f]];
    for (let i = 0; i < queries.length; i += 20) {
      const turn = (i / 20) % sides.length;
      for (const [fn, out] of [...sides.slice(turn), ...sides.slice(0, turn)]) out.push(...(await time(fn, queries.slice(i, i + 20))));
    }
    agent.destroy();
    const il = await time(ilike, queries.slice(0, 40));
    const fts = await time(direct, queries.slice(0, 40));

    // Typo tolerance: three words of the message (the rarer ones), one with a typo.
    let found = 0;
    const typoQueries = sample.rows.slice(200, 400);
    for (const m of typoQueries) {
      const words = [...new Set(m.body.split(' '))].sort((x, y) => Number(y.replace(/\D/g, '')) - Number(x.replace(/\D/g, ''))).slice(0, 3);
      const w = words[0]!;
      const i = Math.min(1, w.length - 2);
      words[0] = w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
      const r = await pgSearch(pool, normalise(def, { index: 'nchat_messages', q: words.join(' '), limit: 10 }, 100, 512), permission, session);
      if (r.hits.some((h) => h.id === m.id)) found++;
    }

    // Sync: 10,000 inserts through the harness to the sync handler.
    const harness = await createHasuraHarness({
      databaseUrl: db.url,
      metadataDir: join(project, 'hasura/metadata'),
      env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, CHAT_FUNCTIONS_URL: 'http://127.0.0.1:9', CHAT_EVENT_SECRET: 'x', CHAT_DATABASE_URL: db.url },
      events: { fetchIntervalMs: 20 },
    });
    await pool.query(`alter table public.messages disable trigger "notify_hasura_message_created_notify_INSERT"`);
    const syncN = Number(process.env.SEARCH_BENCH_SYNC ?? 10_000);
    const t2 = performance.now();
    await pool.query(
      `insert into public.messages (channel_id, author_id, body) select '10000000-0000-4000-8000-000000000001', '${USER}', 'fresh' || g || ' zzsync' from generate_series(1, ${syncN}) g`,
    );
    await harness.drain({ timeoutMs: 600_000 });
    const syncMs = performance.now() - t2;
    const last = await pgSearch(pool, normalise(def, { index: 'nchat_messages', q: `fresh${syncN}`, limit: 1 }, 100, 512), permission, session);
    await harness.close();
    await server.shutdown('bench');

    const result = {
      messages,
      generatedSeconds: Math.round(generatedMs / 1000),
      lexicon: { terms, seconds: Math.round(lexiconMs / 1000) },
      searchQuery: { p50: pct(a, 50), p95: pct(a, 95) },
      directSql: { p50: pct(d, 50), p95: pct(d, 95) },
      ratio: { p50: pct(d, 50) / pct(a, 50), p95: pct(d, 95) / pct(a, 95) },
      searchQueryByFetch: { p50: pct(f, 50), p95: pct(f, 95), ratioP50: pct(d, 50) / pct(f, 50) },
      ilike: { p50: pct(il, 50), fts_p50: pct(fts, 50), speedup: pct(il, 50) / pct(fts, 50) },
      typo: { queries: typoQueries.length, top10: found, rate: found / typoQueries.length },
      sync: { inserts: syncN, seconds: syncMs / 1000, docsPerSecond: syncN / (syncMs / 1000), lastSearchable: last.hits.length === 1 },
    };
    console.log(JSON.stringify(result, null, 2));
    return result;
  } finally {
    await pool.end();
    await db.drop();
    rmSync(project, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
