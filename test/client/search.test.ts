/**
 * The search module against `nself-plugins dev` with the search plugin (PostgreSQL engine) on the chat project:
 * what each user may find, suggestions and several indexes at once, and the debounced search: one request for a
 * burst of calls, the request of a replaced search aborted, a late answer of a replaced search never applied,
 * cancel, short queries, and the plugin's errors.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNselfClient, createSearch, NselfError, type NselfClient, type SearchResults } from '../../src/client/index.js';
import { sleep, waitFor } from './support/dev.js';
import { ALICE, ALICE_PRIVATE, BOB, BOB_PRIVATE, GENERAL, startSearchOAuthDev, type SearchOAuthDev } from './support/search-oauth.js';

let s: SearchOAuthDev;
const ids: Record<string, string> = {};
const clients: NselfClient[] = [];

beforeAll(async () => {
  s = await startSearchOAuthDev('sdk_search', 'https://app.example.com/auth/');
  ids.general = await s.message(GENERAL, ALICE, 'The quarterly meeting starts at noon');
  ids.notes = await s.message(GENERAL, BOB, 'Meeting notes: budget review and hiring plan');
  ids.alice = await s.message(ALICE_PRIVATE, ALICE, 'Diary: the zanzibar surprise party for Bob');
  ids.bob = await s.message(BOB_PRIVATE, BOB, 'Secret zanzibar roadmap and the meeting password');
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.close();
});

/** Requests as `user`, through a fetch that lets the test see, hold or misdeliver each one. */
async function searchAs(user: string, wire: Partial<Wire> = {}) {
  const w: Wire = { sent: [], aborted: [], hold: () => undefined, ignoreAbort: false, ...wire };
  const client = createNselfClient({
    url: s.graphqlUrl,
    auth: await s.token(user),
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const q = (JSON.parse(String(init?.body)) as { variables?: { q?: string } }).variables?.q ?? '';
      w.sent.push(q);
      init?.signal?.addEventListener('abort', () => w.aborted.push(q));
      // The request goes to the server for real; its answer may be held back, as on a slow connection.
      const res = await fetch(input, w.ignoreAbort ? { ...init, signal: null } : init);
      const body = await res.text();
      await w.hold(q);
      return new Response(body, { status: res.status, headers: res.headers });
    }) as typeof fetch,
  });
  clients.push(client);
  return { search: createSearch(client), wire: w };
}

interface Wire {
  sent: string[];
  aborted: string[];
  hold(q: string): Promise<void> | void;
  /** The answer arrives even after the request was aborted (it was already on its way). */
  ignoreAbort: boolean;
}

describe('searchQuery, searchSuggest, searchMulti', () => {
  it('finds the messages a user may see and not the ones they may not', async () => {
    const alice = (await searchAs(ALICE)).search;
    const bob = (await searchAs(BOB)).search;
    const a = await alice.searchQuery('nchat_messages', 'zanzibar');
    expect(a.hits.map((h) => h.id)).toEqual([ids.alice]);
    expect(a).toMatchObject({ index: 'nchat_messages', query: 'zanzibar', estimatedTotal: 1, processingTime: expect.any(Number) });
    expect(JSON.stringify(a)).not.toContain('roadmap');
    expect((await bob.searchQuery('nchat_messages', 'zanzibar')).hits.map((h) => h.id)).toEqual([ids.bob]);
    // Two pages of one hit each, by relevance: Alice's two visible meeting messages, Bob's private one on neither.
    const meeting = await alice.searchQuery('nchat_messages', 'meeting', { limit: 1 });
    expect([meeting.hits.length, meeting.estimatedTotal, typeof meeting.cursor]).toEqual([1, 2, 'string']);
    const next = await alice.searchQuery('nchat_messages', 'meeting', { limit: 1, cursor: meeting.cursor });
    expect([...meeting.hits, ...next.hits].map((h) => h.id).sort()).toEqual([ids.general, ids.notes].sort());
    expect(next.cursor).toBeNull();
    const filtered = await alice.searchQuery('nchat_messages', 'zanzibar', { filters: { channel_id: { _eq: BOB_PRIVATE } } });
    expect([filtered.hits, filtered.estimatedTotal]).toEqual([[], 0]);
  });

  it('suggests completions and searches several indexes at once, as the caller', async () => {
    const alice = (await searchAs(ALICE)).search;
    const bob = (await searchAs(BOB)).search;
    // Completions come from the lexicon, which the sync trigger's events fill shortly after the inserts.
    await waitFor(async () => (await bob.searchSuggest('nchat_messages', 'passw')).length > 0, 20_000, 'the lexicon');
    expect(await bob.searchSuggest('nchat_messages', 'passw')).toEqual(['password']);
    expect(await alice.searchSuggest('nchat_messages', 'zanz')).toEqual(['zanzibar']);
    expect(await alice.searchSuggest('nchat_messages', 'passw')).toEqual([]);
    const [messages, users] = await alice.searchMulti([
      { index: 'nchat_messages', q: 'zanzibar' },
      { index: 'nchat_users', q: 'bob' },
    ]);
    expect(messages!.hits.map((h) => h.id)).toEqual([ids.alice]);
    expect(users!.hits.map((h) => (h.document as { display_name: string }).display_name)).toEqual(['Bob Builder']);
  });

  it("reports the plugin's errors with their codes", async () => {
    const alice = (await searchAs(ALICE)).search;
    expect(((await alice.searchQuery('secret_index', 'x').catch((e: unknown) => e)) as NselfError).code).toBe('search/unknown-index');
    expect(((await alice.searchQuery('nchat_messages', 'x', { sort: ['body:sideways'] }).catch((e: unknown) => e)) as NselfError).code).toBe('search/invalid-sort');
    expect(((await alice.searchQuery('nchat_messages', 'x', { filters: { password: { _eq: 'x' } } }).catch((e: unknown) => e)) as NselfError).code).toBe('search/invalid-filter');
  });
});

describe('the debounced search', () => {
  it('sends one request for a burst of calls, and every caller gets the last one’s results', async () => {
    const { search, wire } = await searchAs(ALICE);
    const seen: SearchResults[] = [];
    const loading: boolean[] = [];
    const box = search.debounced('nchat_messages', { debounceMs: 80, onResults: (r) => seen.push(r), onLoading: (l) => loading.push(l) });
    const typed = ['z', 'za', 'zan', 'zanz', 'zanzibar'].map((q) => box.search(q));
    const results = await Promise.all(typed);
    expect(wire.sent).toEqual(['zanzibar']);
    for (const r of results) expect(r.hits.map((h) => h.id)).toEqual([ids.alice]);
    expect(seen.map((r) => r.query)).toEqual(['zanzibar']);
    expect(loading).toEqual([true, false]);
    box.dispose();
  });

  it('aborts the request of a search it replaces, and the replaced answer is never applied', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { search, wire } = await searchAs(ALICE, { hold: (q) => (q === 'meeting' ? held : undefined) });
    const seen: string[] = [];
    const box = search.debounced('nchat_messages', { debounceMs: 10, onResults: (r) => seen.push(r.query) });
    const first = box.search('meeting');
    while (!wire.sent.includes('meeting')) await sleep(5);
    const second = await box.search('zanzibar');
    expect(second.hits.map((h) => h.id)).toEqual([ids.alice]);
    expect(wire.aborted).toEqual(['meeting']);
    // The replaced call resolves with the answer that replaced it.
    expect((await first).query).toBe('zanzibar');
    release();
    await sleep(50);
    expect(seen).toEqual(['zanzibar']);
    box.dispose();
  });

  it('drops a late answer of a replaced search even when it arrives after the newer one', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // The first answer was already on its way when the search was replaced: aborting cannot stop it.
    const { search, wire } = await searchAs(ALICE, { ignoreAbort: true, hold: (q) => (q === 'meeting' ? held : undefined) });
    const seen: string[][] = [];
    const box = search.debounced('nchat_messages', { debounceMs: 10, onResults: (r) => seen.push(r.hits.map((h) => h.id)) });
    void box.search('meeting');
    while (!wire.sent.includes('meeting')) await sleep(5);
    await box.search('zanzibar');
    release();
    await sleep(100);
    expect(wire.sent).toEqual(['meeting', 'zanzibar']);
    expect(seen).toEqual([[ids.alice]]);
    box.dispose();
  });

  it('cancel stops a pending search before anything is sent; short queries send nothing', async () => {
    const { search, wire } = await searchAs(ALICE);
    const loading: boolean[] = [];
    const box = search.debounced('nchat_messages', { debounceMs: 50, onLoading: (l) => loading.push(l) });
    const pending = box.search('meeting');
    box.cancel();
    expect(((await pending.catch((e: unknown) => e)) as NselfError).code).toBe('aborted');
    await sleep(100);
    expect(wire.sent).toEqual([]);
    expect(loading).toEqual([true, false]);
    const blank = await box.search('   ');
    expect([blank.hits, blank.estimatedTotal]).toEqual([[], 0]);
    expect(wire.sent).toEqual([]);
    box.dispose();
    expect(((await box.search('meeting').catch((e: unknown) => e)) as NselfError).code).toBe('aborted');
  });

  it('reports the latest search’s error and recovers with the next one', async () => {
    const { search } = await searchAs(ALICE);
    const errors: string[] = [];
    const box = search.debounced('nchat_messages', { debounceMs: 10, onError: (e) => errors.push(e.code) });
    expect(((await box.search('meeting', { sort: ['nope:up'] }).catch((e: unknown) => e)) as NselfError).code).toBe('search/invalid-sort');
    expect(errors).toEqual(['search/invalid-sort']);
    expect((await box.search('zanzibar')).hits.map((h) => h.id)).toEqual([ids.alice]);
    box.dispose();
  });
});
