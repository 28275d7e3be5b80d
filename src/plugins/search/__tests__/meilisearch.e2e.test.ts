/**
 * The search behaviour on the Meilisearch engine, against a strict in-process stand-in of its HTTP API (the
 * server cannot run here), plus what only Meilisearch has: settings from the definitions, the resumable
 * backfill, sync through `search.pending` drained by batch jobs of the jobs plugin (BullMQ on PostgreSQL in the
 * scratch database), and tenant tokens a client uses against Meilisearch itself.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { jobsService } from '../../jobs/index.js';
import { jobsPlugin } from '../../jobs/plugin.js';
import { searchPlugin } from '../plugin.js';
import { searchService } from '../lib/service.js';
import { SYNC_QUEUE } from '../lib/sync-job.js';
import { searchBehaviour } from './support/behaviour.js';
import { FakeMeilisearch } from './support/fake-meilisearch.js';
import { ALICE, BOB, BOB_PRIVATE, DEFINITIONS, GENERAL, INDEXES, SECRET, startStack, type Stack } from './support/stack.js';
import { createRuntime } from '../../../core/runtime.js';

const MASTER = 'meili-master-key-0123456789';
const fake = new FakeMeilisearch(MASTER);
fake.searchKeys.set('3f1c0e2a-6d1b-4b8e-9a55-0c1d2e3f4a5b', 'search-key-abcdefghijklmnop0123456789');
const env = () => ({
  SEARCH_ENGINE: 'meilisearch',
  SEARCH_MEILISEARCH_URL: fake.url,
  SEARCH_MEILISEARCH_API_KEY: MASTER,
  SEARCH_MEILISEARCH_SEARCH_KEY: '3f1c0e2a-6d1b-4b8e-9a55-0c1d2e3f4a5b:search-key-abcdefghijklmnop0123456789',
  SEARCH_SYNC_INTERVAL_MS: '100',
  JOBS_QUEUES: SYNC_QUEUE,
  JOBS_BACKOFF_JITTER: '0',
});
const stackOf = (label: string) => startStack(label, env(), { plugins: [jobsPlugin, searchPlugin], queueOnPostgres: true });

const jobs = (s: Stack) => s.runtime.pluginRuntime('jobs').service(jobsService);
const syncQueue = (s: Stack) => s.runtime.pluginRuntime('search').queue.queue(SYNC_QUEUE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Events delivered, then every pending change sent by the sync jobs. */
async function settle(s: Stack, timeoutMs = 30_000) {
  await s.harness.drain();
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending = (await s.pool.query<{ n: number }>('select count(*)::int as n from search.pending')).rows[0]!.n;
    const [q] = await jobs(s).stats(SYNC_QUEUE);
    if (pending === 0 && q!.waiting + q!.active + q!.delayed === 0) return;
    if (Date.now() > until) throw new Error(`sync did not settle: ${pending} pending, ${JSON.stringify(q)}`);
    await sleep(25);
  }
}
async function start(label: string) {
  await fake.start();
  const s = await stackOf(label);
  // Rows that were there before the index: the backfill copies them.
  for (const index of ['nchat_channels', 'nchat_users', 'nchat_messages']) {
    const r = await s.as('admin', `mutation { searchReindex(index: "${index}") { status backfilled backfillTotal } }`);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
  }
  return s;
}

searchBehaviour('meilisearch', () => start('search_meili'), settle);

describe('meilisearch only', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await stackOf('search_meili2');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    await fake.stop();
  });

  test('settings come from the definition; permission columns are filterable', () => {
    const i = fake.indexes.get('nchat_messages')!;
    expect(i.primaryKey).toBe('id');
    expect(i.settings.searchableAttributes).toEqual(['body']);
    expect(i.settings.filterableAttributes).toEqual(['author_id', 'channel_id', 'id']);
    expect(i.settings.sortableAttributes).toEqual(['created_at']);
  });

  test('the backfill resumes from its checkpoint and reports progress', async () => {
    for (let n = 0; n < 5; n++) await s.message(GENERAL, ALICE, `backfill row ${n} quokka`);
    // The sync of those inserts is done first, so what follows is the backfill alone.
    await settle(s);
    await s.pool.query(`update search.index_state set status = 'backfilling', backfill_cursor = (select min(id::text) from public.messages), backfilled = 1 where name = 'nchat_messages'`);
    fake.requests.length = 0;
    const r = await s.as('admin', `mutation { searchReindex(index: "nchat_messages") { status backfilled backfillTotal } }`);
    expect(r.data!.searchReindex).toEqual({ status: 'idle', backfilled: 5, backfillTotal: 5 });
    const sent = fake.requests.filter((x) => x.path.startsWith('/indexes/nchat_messages/documents')).flatMap((x) => x.body as Array<{ id: string }>);
    expect(sent.length).toBe(4);
    const again = await s.as('admin', `mutation { searchReindex(index: "nchat_messages", restart: true) { status backfilled backfillTotal } }`);
    expect(again.data!.searchReindex).toEqual({ status: 'idle', backfilled: 5, backfillTotal: 5 });
  });

  test('a tenant token lets a client query Meilisearch directly under its own permissions', async () => {
    await settle(s);
    const secret = await s.pool.query<{ id: string }>(`insert into public.messages (channel_id, author_id, body) values ('10000000-0000-4000-8000-0000000000b1', $1, 'quokka secret') returning id`, [BOB]);
    await settle(s);
    const t = await s.as(ALICE, `query { searchTenantToken(indexes: ["nchat_messages"]) { token expiresAt indexes host } }`);
    expect(t.errors).toBeUndefined();
    const { token, host } = t.data!.searchTenantToken;
    expect(host).toBe(fake.url);
    const direct = async (tok: string, body: unknown) =>
      fetch(`${fake.url}/indexes/nchat_messages/search`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await direct(token, { q: 'quokka' });
    const hits = ((await res.json()) as { hits: Array<{ id: string }> }).hits.map((h) => h.id);
    expect(hits.length).toBe(5);
    expect(hits).not.toContain(secret.rows[0]!.id);
    // The token cannot lift its own filter, and cannot write.
    const widened = await direct(token, { q: 'quokka', filter: `channel_id = "10000000-0000-4000-8000-0000000000b1"` });
    expect(((await widened.json()) as { hits: unknown[] }).hits).toEqual([]);
    const write = await fetch(`${fake.url}/indexes/nchat_messages/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '[]' });
    expect(write.status).toBe(403);
    const bobToken = (await s.as(BOB, `query { searchTenantToken { token } }`)).data!.searchTenantToken.token;
    const bob = await direct(bobToken, { q: 'quokka secret' });
    expect(((await bob.json()) as { hits: Array<{ id: string }> }).hits.map((h) => h.id)).toEqual([secret.rows[0]!.id]);
  });

  test('a burst of changes is sent by a few batch jobs, one per index and sync window, counted in the jobs stats', async () => {
    await settle(s);
    const [before] = await jobs(s).stats(SYNC_QUEUE);
    const firstTask = fake.tasks.length;
    const started = Date.now();
    const burst = await s.pool.query<{ id: string }>(
      `insert into public.messages (channel_id, author_id, body) select $1, $2, 'burst pangolin ' || n from generate_series(1, 300) n returning id`,
      [GENERAL, ALICE],
    );
    await s.pool.query(`update public.messages set body = body || ' edited' where id = any($1::uuid[])`, [burst.rows.slice(0, 100).map((r) => r.id)]);
    await s.pool.query(`delete from public.messages where id = any($1::uuid[])`, [burst.rows.slice(250).map((r) => r.id)]);
    await settle(s);
    const windows = Math.ceil((Date.now() - started) / 100) + 1;
    const [after] = await jobs(s).stats(SYNC_QUEUE);
    const ran = after!.completed - before!.completed;
    expect(ran).toBeGreaterThanOrEqual(1);
    // 450 events; at most one drain per 100 ms window (each sends every change pending by then), so far fewer jobs.
    expect(ran).toBeLessThanOrEqual(windows);
    expect(ran).toBeLessThan(450 / 5);
    expect(after!.failed).toBe(before!.failed);
    const docs = fake.indexes.get('nchat_messages')!.docs;
    expect(burst.rows.slice(0, 250).every((r) => docs.has(r.id))).toBe(true);
    expect(burst.rows.slice(250).some((r) => docs.has(r.id))).toBe(false);
    expect(String(docs.get(burst.rows[0]!.id)!.body)).toMatch(/ edited$/);
    const writes = fake.tasks.slice(firstTask).filter((t) => t.indexUid === 'nchat_messages' && t.type !== 'settingsUpdate');
    // Batched writes, not one per event: a drain sends what is pending as one addition and one deletion per
    // batch, and keeps draining while changes arrive, so a job may send a few batches.
    expect(writes.length).toBeLessThan(450 / 5);
    const completed = await syncQueue(s).getJobs(['completed'], 0, 1000);
    const ids = completed.map((j) => j.id!);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^search-sync-(nchat_messages|nchat_channels|nchat_users)-\d+$/.test(id))).toBe(true);
    await s.pool.query(`delete from public.messages where body like 'burst pangolin%'`);
    await settle(s);
  });

  test('while Meilisearch is down the batch job retries with backoff, and the changes arrive once it is back', async () => {
    await settle(s);
    await fake.stop();
    try {
      const row = await s.pool.query<{ id: string }>(`insert into public.messages (channel_id, author_id, body) values ($1, $2, 'outage wombat') returning id`, [GENERAL, BOB]);
      await s.harness.drain();
      // Wait for a failed attempt that is waiting out its backoff.
      const until = Date.now() + 15_000;
      let retrying: { attemptsMade: number; failedReason?: string } | undefined;
      while (!retrying && Date.now() < until) {
        retrying = (await syncQueue(s).getJobs(['delayed'], 0, 100)).find((j) => j.attemptsMade >= 1);
        if (!retrying) await sleep(50);
      }
      expect(retrying?.failedReason).toBeTruthy();
      expect(fake.indexes.get('nchat_messages')!.docs.has(row.rows[0]!.id)).toBe(false);
      await fake.start();
      await settle(s);
      expect(fake.indexes.get('nchat_messages')!.docs.has(row.rows[0]!.id)).toBe(true);
      const done = (await syncQueue(s).getJobs(['completed'], 0, 1000)).filter((j) => j.attemptsMade >= 1 && (j.returnvalue as { sent?: number })?.sent);
      expect(done.length).toBeGreaterThanOrEqual(1);
    } finally {
      await fake.start();
    }
  });

  test('a row leaving the where is deleted from Meilisearch, not merely filtered; a moved row is re-sent', async () => {
    const row = await s.pool.query<{ id: string }>(`insert into public.messages (channel_id, author_id, body) values ($1, $2, 'scope narwhal') returning id`, [GENERAL, BOB]);
    const id = row.rows[0]!.id;
    await settle(s);
    const docs = fake.indexes.get('nchat_messages')!.docs;
    expect(docs.get(id)?.channel_id).toBe(GENERAL);
    await s.pool.query('update public.messages set channel_id = $2 where id = $1', [id, BOB_PRIVATE]);
    await settle(s);
    expect(docs.get(id)?.channel_id).toBe(BOB_PRIVATE);
    await s.pool.query('update public.messages set deleted_at = now() where id = $1', [id]);
    await settle(s);
    expect(docs.has(id)).toBe(false);
    // The backfill copies only what the where admits.
    const r = await s.as('admin', `mutation { searchReindex(index: "nchat_messages", restart: true) { status } }`);
    expect(r.errors).toBeUndefined();
    expect(docs.has(id)).toBe(false);
  });

  test('two drains of one index never interleave: the second waits, then finds the batch already sent', async () => {
    await settle(s);
    const rows = await s.pool.query<{ id: string }>(`select id::text as id from public.messages where deleted_at is null order by id limit 5`);
    await s.pool.query(`insert into search.pending (index_name, doc_id, op) select 'nchat_messages', unnest($1::text[]), 'upsert'`, [rows.rows.map((r) => r.id)]);
    const tasks = fake.tasks.length;
    const engine = s.runtime.pluginRuntime('search').service(searchService).meili!;
    const sent = await Promise.all([engine.flushIndex('nchat_messages'), engine.flushIndex('nchat_messages')]);
    expect(sent.sort()).toEqual([0, 5]);
    expect(fake.tasks.slice(tasks).map((t) => t.type)).toEqual(['documentAdditionOrUpdate']);
  });

  test('a replayed event changes nothing: no second pending change, no second write to Meilisearch', async () => {
    const row = await s.pool.query<{ id: string }>(`insert into public.messages (channel_id, author_id, body) values ($1, $2, 'replay okapi') returning id`, [GENERAL, ALICE]);
    await settle(s);
    const event = (await s.harness.eventLog('search_sync_nchat_messages')).find((e) => JSON.stringify(e.payload).includes(row.rows[0]!.id))!;
    expect(event.delivered).toBe(true);
    const tasks = fake.tasks.length;
    await s.harness.redeliverEvent(event.id);
    await settle(s);
    expect((await s.harness.invocations(event.id)).map((i) => i.status)).toEqual([200, 200]);
    expect(fake.tasks.length).toBe(tasks);
    expect(fake.indexes.get('nchat_messages')!.docs.has(row.rows[0]!.id)).toBe(true);
  });

  test('the Meilisearch engine refuses to start without the jobs plugin, naming it', async () => {
    const boot = createRuntime(
      { DATABASE_URL: s.db.url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent', QUEUE_DB_POOL_MAX: '2', SEARCH_INDEXES: INDEXES, SEARCH_DEFINITIONS_FILE: DEFINITIONS, ...env() },
      { plugins: [searchPlugin], migrate: false },
    );
    await expect(boot).rejects.toThrow(/SEARCH_ENGINE=meilisearch needs the jobs plugin/);
  });

  test('the fake rejects what Meilisearch rejects', async () => {
    const call = (path: string, body: unknown, key = MASTER) =>
      fetch(`${fake.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string } }));
    expect((await call('/indexes/nchat_messages/search', { q: 'x', filter: 'body = "x"' })).body.code).toBe('invalid_search_filter');
    expect((await call('/indexes/nchat_messages/search', { q: 'x', sort: ['body:asc'] })).body.code).toBe('invalid_search_sort');
    expect((await call('/indexes/nchat_messages/search', { q: 'x', maxValuesPerFacet: 3 })).body.code).toBe('bad_request');
    expect((await call('/indexes/nope/search', { q: 'x' })).body.code).toBe('index_not_found');
    expect((await call('/indexes/nchat_messages/search', { q: 'x' }, 'wrong')).body.code).toBe('invalid_api_key');
    expect((await call('/indexes/nchat_messages/search', { q: 'x', filter: 'channel_id = "unterminated' })).body.code).toBe('invalid_search_filter');
    const bad = await call('/indexes/nchat_messages/documents', [{ id: 'not valid!' }]);
    expect(bad.status).toBe(202);
    expect(fake.tasks[fake.tasks.length - 1]!.error?.code).toBe('invalid_document_id');
  });
});
