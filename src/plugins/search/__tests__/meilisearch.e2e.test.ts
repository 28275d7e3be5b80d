/**
 * The search behaviour on the Meilisearch engine, against a strict in-process stand-in of its HTTP API (the
 * server cannot run here), plus what only Meilisearch has: settings from the definitions, the resumable
 * backfill, batched sync through `search.pending`, and tenant tokens a client uses against Meilisearch itself.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { searchService } from '../lib/service.js';
import { searchBehaviour } from './support/behaviour.js';
import { FakeMeilisearch } from './support/fake-meilisearch.js';
import { ALICE, BOB, GENERAL, startStack, type Stack } from './support/stack.js';

const MASTER = 'meili-master-key-0123456789';
const fake = new FakeMeilisearch(MASTER);
fake.searchKeys.set('3f1c0e2a-6d1b-4b8e-9a55-0c1d2e3f4a5b', 'search-key-abcdefghijklmnop0123456789');
const env = () => ({
  SEARCH_ENGINE: 'meilisearch',
  SEARCH_MEILISEARCH_URL: fake.url,
  SEARCH_MEILISEARCH_API_KEY: MASTER,
  SEARCH_MEILISEARCH_SEARCH_KEY: '3f1c0e2a-6d1b-4b8e-9a55-0c1d2e3f4a5b:search-key-abcdefghijklmnop0123456789',
  SEARCH_SYNC_INTERVAL_MS: '50',
});

const meili = (s: Stack) => s.runtime.pluginRuntime('search').service(searchService).meili!;
async function settle(s: Stack) {
  await s.harness.drain();
  while ((await meili(s).flush()) > 0);
}
async function start(label: string) {
  await fake.start();
  const s = await startStack(label, env());
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
    s = await startStack('search_meili2', env());
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    await fake.stop();
  });

  test('settings come from the definition; permission columns are filterable', () => {
    const i = fake.indexes.get('nchat_messages')!;
    expect(i.primaryKey).toBe('id');
    expect(i.settings.searchableAttributes).toEqual(['body']);
    expect(i.settings.filterableAttributes).toEqual(['author_id', 'channel_id', 'deleted_at', 'id']);
    expect(i.settings.sortableAttributes).toEqual(['created_at']);
  });

  test('the backfill resumes from its checkpoint and reports progress', async () => {
    for (let n = 0; n < 5; n++) await s.message(GENERAL, ALICE, `backfill row ${n} quokka`);
    // The sync of those inserts is done first, so what follows is the backfill alone.
    await s.harness.drain();
    while ((await meili(s).flush()) > 0);
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
    await s.harness.drain();
    while ((await meili(s).flush()) > 0);
    const secret = await s.pool.query<{ id: string }>(`insert into public.messages (channel_id, author_id, body) values ('10000000-0000-4000-8000-0000000000b1', $1, 'quokka secret') returning id`, [BOB]);
    await s.harness.drain();
    while ((await meili(s).flush()) > 0);
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
