/**
 * Search sync on both engines, on the chat example's stack (harness delivering the sync event triggers to the
 * real server): N message inserts until every one is searchable, then N/10 deletes until every one is gone.
 *
 * - PostgreSQL: the sync handler feeds the lexicon; a row is searchable once its event is handled.
 * - Meilisearch: the handler queues changes in `search.pending`, batch jobs of the jobs plugin (BullMQ on
 *   PostgreSQL) send them. The Meilisearch server cannot run here, so the strict stand-in the tests use
 *   receives them: the rate is what this side sends and confirms, not Meilisearch's own indexing time.
 *
 * Reports documents/s for each engine and how many sync jobs (batches) carried the deletes. Not a test.
 *
 *   npx tsx bench/search-sync.ts [inserts]
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobsService } from '../src/plugins/jobs/index.js';
import { jobsPlugin } from '../src/plugins/jobs/plugin.js';
import { searchPlugin } from '../src/plugins/search/plugin.js';
import { SYNC_QUEUE } from '../src/plugins/search/lib/sync-job.js';
import { FakeMeilisearch } from '../src/plugins/search/__tests__/support/fake-meilisearch.js';
import { ALICE, GENERAL, startStack, type Stack } from '../src/plugins/search/__tests__/support/stack.js';

const MASTER = 'meili-master-key-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface EngineResult {
  inserts: number;
  insertSeconds: number;
  insertDocsPerSecond: number;
  deletes: number;
  deleteSeconds: number;
  deleteDocsPerSecond: number;
  /** Meilisearch only: sync jobs that ran while the deletes were sent. */
  deleteBatches?: number;
}

async function measure(s: Stack, n: number, settled: () => Promise<boolean>, batches?: () => Promise<number>): Promise<EngineResult> {
  const waitSettled = async () => {
    await s.harness.drain({ timeoutMs: 600_000 });
    while (!(await settled())) await sleep(10);
  };
  await waitSettled();
  const t0 = performance.now();
  const ins = await s.pool.query<{ id: string }>(
    `insert into public.messages (channel_id, author_id, body) select $1, $2, 'sync bench wombat ' || g from generate_series(1, ${n}) g returning id`,
    [GENERAL, ALICE],
  );
  await waitSettled();
  const insertSeconds = (performance.now() - t0) / 1000;
  const gone = ins.rows.slice(0, Math.max(1, Math.floor(n / 10))).map((r) => r.id);
  const before = batches ? await batches() : 0;
  const t1 = performance.now();
  await s.pool.query('delete from public.messages where id = any($1::uuid[])', [gone]);
  await waitSettled();
  const deleteSeconds = (performance.now() - t1) / 1000;
  const after = batches ? await batches() : 0;
  await s.pool.query(`delete from public.messages where body like 'sync bench wombat %'`);
  await waitSettled();
  return {
    inserts: n,
    insertSeconds,
    insertDocsPerSecond: n / insertSeconds,
    deletes: gone.length,
    deleteSeconds,
    deleteDocsPerSecond: gone.length / deleteSeconds,
    ...(batches ? { deleteBatches: after - before } : {}),
  };
}

export async function run(opts: { inserts?: number; log?: (line: string) => void } = {}): Promise<Record<string, EngineResult>> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.inserts ?? Number(process.env.SEARCH_SYNC_BENCH_INSERTS ?? 10_000);
  const out: Record<string, EngineResult> = {};

  const pg = await startStack('bench_search_sync_pg');
  try {
    out.postgres = await measure(pg, n, async () => true);
  } finally {
    await pg.close();
  }

  const fake = await new FakeMeilisearch(MASTER).start();
  const meili = await startStack(
    'bench_search_sync_meili',
    { SEARCH_ENGINE: 'meilisearch', SEARCH_MEILISEARCH_URL: fake.url, SEARCH_MEILISEARCH_API_KEY: MASTER, JOBS_QUEUES: SYNC_QUEUE },
    { plugins: [jobsPlugin, searchPlugin], queueOnPostgres: true },
  );
  try {
    const jobs = meili.runtime.pluginRuntime('jobs').service(jobsService);
    const settled = async () => {
      const pending = (await meili.pool.query<{ n: number }>('select count(*)::int as n from search.pending')).rows[0]!.n;
      const [q] = await jobs.stats(SYNC_QUEUE);
      return pending === 0 && q!.waiting + q!.active + q!.delayed === 0;
    };
    const completed = async () => (await jobs.stats(SYNC_QUEUE))[0]!.completed;
    out.meilisearch = await measure(meili, n, settled, completed);
    const docs = fake.indexes.get('nchat_messages')?.docs;
    if (!docs || [...docs.values()].some((d) => String(d.body).startsWith('sync bench wombat'))) throw new Error('the stand-in still holds benchmark documents');
  } finally {
    await meili.close();
    await fake.stop();
  }

  for (const [engine, r] of Object.entries(out)) {
    say(
      `${engine}: ${r.inserts} inserts searchable in ${r.insertSeconds.toFixed(1)} s (${Math.round(r.insertDocsPerSecond)} docs/s); ` +
        `${r.deletes} deletes gone in ${r.deleteSeconds.toFixed(2)} s (${Math.round(r.deleteDocsPerSecond)} docs/s)` +
        (r.deleteBatches !== undefined ? `, carried by ${r.deleteBatches} sync job(s)` : ''),
    );
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ inserts: process.argv[2] ? Number(process.argv[2]) : undefined });
  process.exit(0);
}
