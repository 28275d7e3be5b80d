/**
 * The behaviour every engine must show, run by each engine's test file on its own stack: relevance and typo
 * tolerance, permissions everywhere (hits, counts, facets, highlights, suggestions), filters, facets, sort and
 * pagination, sync of inserts/updates/deletes, and bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ALICE, ALICE_PRIVATE, BOB, BOB_PRIVATE, GENERAL, QUERY, SUGGEST, type Stack } from './stack.js';

export function searchBehaviour(engine: string, start: () => Promise<Stack>, settle: (s: Stack) => Promise<void>): void {
  let s: Stack;
  const ids: Record<string, string> = {};
  const search = async (who: string, vars: Record<string, unknown>) => {
    const r = await s.as(who, QUERY, { index: 'nchat_messages', ...vars });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data!.searchQuery as { hits: Array<{ id: string; document: any; highlights: any }>; estimatedTotal: number; facets: any; didYouMean: string | null; cursor: string | null };
  };
  const fails = async (who: string, vars: Record<string, unknown>) => {
    const r = await s.as(who, QUERY, { index: 'nchat_messages', ...vars });
    expect(r.data ?? null).toBeNull();
    return r.errors![0]!;
  };

  beforeAll(async () => {
    s = await start();
    ids.hello = await s.message(GENERAL, ALICE, 'Hello world, the quarterly meeting starts at noon', '2026-01-01T10:00:00Z');
    ids.meeting = await s.message(GENERAL, BOB, 'Meeting notes: budget review and hiring plan', '2026-02-01T10:00:00Z');
    ids.cafe = await s.message(GENERAL, BOB, 'Lunch at the café near the station?', '2026-02-02T10:00:00Z');
    ids.alicePrivate = await s.message(ALICE_PRIVATE, ALICE, 'Diary: the zanzibar surprise party for Bob', '2026-02-03T10:00:00Z');
    ids.bobPrivate = await s.message(BOB_PRIVATE, BOB, 'Secret zanzibar roadmap and the meeting password', '2026-02-04T10:00:00Z');
    ids.emoji = await s.message(GENERAL, ALICE, 'Launch day 🚀 שלום עולם مرحبا', '2026-02-05T10:00:00Z');
    await settle(s);
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  describe(`${engine}: relevance, typos, highlights`, () => {
    test('finds by words, highlights the match, and ranks', async () => {
      const r = await search(ALICE, { q: 'meeting' });
      expect(r.hits.map((h) => h.id).sort()).toEqual([ids.hello, ids.meeting].sort());
      expect(r.estimatedTotal).toBe(2);
      const h = r.hits.find((x) => x.id === ids.meeting)!;
      expect(h.highlights.body).toContain('<mark>');
      expect(h.document.body).toBe('Meeting notes: budget review and hiring plan');
    });

    test('tolerates a typo', async () => {
      const r = await search(ALICE, { q: 'budegt' });
      expect(r.hits.map((h) => h.id)).toEqual([ids.meeting]);
    });

    test('accents and other scripts', async () => {
      expect((await search(BOB, { q: 'cafe' })).hits.map((h) => h.id)).toEqual([ids.cafe]);
      expect((await search(BOB, { q: 'שלום' })).hits.map((h) => h.id)).toEqual([ids.emoji]);
    });
  });

  describe(`${engine}: permissions`, () => {
    test('neither user sees the other’s private rows in hits, counts, facets or highlights', async () => {
      const a = await search(ALICE, { q: 'zanzibar', facets: ['channel_id'] });
      expect(a.hits.map((h) => h.id)).toEqual([ids.alicePrivate]);
      expect(a.estimatedTotal).toBe(1);
      expect(a.facets.channel_id).toEqual([{ value: ALICE_PRIVATE, count: 1 }]);
      const b = await search(BOB, { q: 'zanzibar password', facets: ['channel_id'] });
      expect(b.hits.map((h) => h.id)).toEqual([ids.bobPrivate]);
      expect(JSON.stringify(b)).not.toContain('Diary');
      const all = await search(ALICE, { q: '', facets: ['channel_id'], limit: 100 });
      expect(all.hits.map((h) => h.id)).not.toContain(ids.bobPrivate);
      expect(all.facets.channel_id.map((f: { value: string }) => f.value).sort()).toEqual([GENERAL, ALICE_PRIVATE].sort());
    });

    test('asking for the other user’s channel by id finds nothing', async () => {
      const r = await search(ALICE, { q: 'zanzibar', filters: { channel_id: { _eq: BOB_PRIVATE } } });
      expect([r.hits, r.estimatedTotal]).toEqual([[], 0]);
    });

    test('suggestions come only from visible rows', async () => {
      const a = await s.as(ALICE, SUGGEST, { index: 'nchat_messages', q: 'pas' });
      expect(a.data!.searchSuggest.suggestions).toEqual([]);
      const b = await s.as(BOB, SUGGEST, { index: 'nchat_messages', q: 'pas' });
      expect(b.data!.searchSuggest.suggestions).toEqual(['password']);
      const c = await s.as(ALICE, SUGGEST, { index: 'nchat_messages', q: 'zanz' });
      expect(c.data!.searchSuggest.suggestions).toEqual(['zanzibar']);
    });

    test('private channels are found only by their members', async () => {
      const names = async (who: string, q: string) => {
        const r = await s.as(who, QUERY, { index: 'nchat_channels', q, limit: 10 });
        if (r.errors) throw new Error(JSON.stringify(r.errors));
        return r.data!.searchQuery.hits.map((h: { document: { name: string } }) => h.document.name).sort();
      };
      expect(await names(BOB, 'plans')).toEqual(['bob-plans']);
      expect(await names(ALICE, 'plans')).toEqual([]);
      expect(await names(ALICE, 'news')).toEqual(['general']);
      expect(await names(ALICE, '')).toEqual(['alice-notes', 'general']);
    });
  });

  describe(`${engine}: several indexes at once`, () => {
    test('searchMulti answers each search as searchQuery would, and refuses too many', async () => {
      const doc = `query M($queries: [SearchMultiQuery!]!) { searchMulti(queries: $queries) { results { index hits { id document } estimatedTotal } } }`;
      const r = await s.as(ALICE, doc, { queries: [{ index: 'nchat_messages', q: 'zanzibar' }, { index: 'nchat_users', q: 'bob' }, { index: 'nchat_channels', q: 'plans' }] });
      expect(r.errors).toBeUndefined();
      const [messages, users, channels] = r.data!.searchMulti.results;
      expect(messages.hits.map((h: { id: string }) => h.id)).toEqual([ids.alicePrivate]);
      expect(users.hits.map((h: { document: { display_name: string } }) => h.document.display_name)).toEqual(['Bob Builder']);
      expect([channels.hits, channels.estimatedTotal]).toEqual([[], 0]);
      const many = await s.as(ALICE, doc, { queries: Array.from({ length: 11 }, () => ({ index: 'nchat_users', q: 'x' })) });
      expect(many.errors?.[0]?.extensions?.code).toBe('search/invalid-input');
      const unknown = await s.as(ALICE, doc, { queries: [{ index: 'nchat_users', q: 'x' }, { index: 'secret', q: 'x' }] });
      expect(unknown.errors?.[0]?.extensions?.code).toBe('search/unknown-index');
    });
  });

  describe(`${engine}: filters, facets, sort, pages`, () => {
    test('filters on filterable columns, sort and keyset pages', async () => {
      const byBob = await search(ALICE, { q: '', filters: { author_id: { _eq: BOB } }, sort: ['created_at:desc'] });
      expect(byBob.hits.map((h) => h.id)).toEqual([ids.cafe, ids.meeting]);
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page = await search(ALICE, { q: '', sort: ['created_at:asc'], limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.hits.map((h) => h.id));
        cursor = page.cursor;
        if (!cursor) break;
      }
      expect(seen).toEqual([ids.hello, ids.meeting, ids.cafe, ids.alicePrivate, ids.emoji]);
    });

    // The PostgreSQL engine pages by keyset over the sort columns in their own type (Meilisearch pages by offset).
    if (engine === 'postgres') {
      test('keyset pages keep microseconds and ties: every row once, in order, both directions', async () => {
        const stamps = ['2026-03-01T09:00:00.123456Z', '2026-03-01T09:00:00.123457Z', '2026-03-01T09:00:00.123999Z', '2026-03-01T09:00:00.124Z', '2026-03-01T09:00:00.124Z', '2026-03-01T09:00:01Z'];
        const made: Array<{ id: string; at: string }> = [];
        for (const at of stamps) made.push({ id: await s.message(ALICE_PRIVATE, ALICE, `Metronome tick at ${at}`, at), at });
        await settle(s);
        try {
          // Ties on the sort column fall back to the key, descending (as text), as the engine orders them.
          const byKeyDesc = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
          const asc = [...made].sort((a, b) => (a.at === b.at ? byKeyDesc(a, b) : a.at < b.at ? -1 : 1)).map((m) => m.id);
          const desc = [...made].sort((a, b) => (a.at === b.at ? byKeyDesc(a, b) : a.at < b.at ? 1 : -1)).map((m) => m.id);
          for (const [dir, expected] of [['asc', asc], ['desc', desc]] as const) {
            const seen: string[] = [];
            let cursor: string | null = null;
            for (let i = 0; i < 10; i++) {
              const page = await search(ALICE, { q: 'metronome', sort: [`created_at:${dir}`], limit: 2, ...(cursor ? { cursor } : {}) });
              seen.push(...page.hits.map((h) => h.id));
              cursor = page.cursor;
              if (!cursor) break;
            }
            expect(seen).toEqual(expected);
          }
        } finally {
          await s.pool.query('DELETE FROM public.messages WHERE id = ANY($1::uuid[])', [made.map((m) => m.id)]);
          await settle(s);
        }
      });

      test('a cursor whose sort value is not of the column\'s type is a 400 and not a server error', async () => {
        const forged = Buffer.from(JSON.stringify({ v: ['not a time', '00000000-0000-0000-0000-000000000000'], n: Date.now() })).toString('base64url');
        const r = await s.as(ALICE, QUERY, { index: 'nchat_messages', q: '', sort: ['created_at:asc'], cursor: forged });
        expect(r.data ?? null).toBeNull();
        expect(r.errors?.[0]?.extensions?.code).toBe('search/invalid-cursor');
      });
    }
  });

  describe(`${engine}: sync`, () => {
    test('inserts, updates and deletes reach the index', async () => {
      const id = await s.message(GENERAL, BOB, 'Brand new xylophone concert tonight');
      await settle(s);
      expect((await search(ALICE, { q: 'xylophone' })).hits.map((h) => h.id)).toEqual([id]);
      await s.pool.query(`update public.messages set body = 'Concert moved to the harpsichord hall' where id = $1`, [id]);
      await settle(s);
      expect((await search(ALICE, { q: 'xylophone' })).hits).toEqual([]);
      expect((await search(ALICE, { q: 'harpsichord' })).hits.map((h) => h.id)).toEqual([id]);
      await s.pool.query('delete from public.messages where id = $1', [id]);
      await settle(s);
      expect((await search(BOB, { q: 'harpsichord' })).hits).toEqual([]);
      expect((await search('admin', { q: 'harpsichord' })).hits).toEqual([]);
    });

    test('a row leaving the definition’s where (soft delete) leaves the index for everyone, and comes back', async () => {
      const id = await s.message(GENERAL, BOB, 'Marimbas arrive on thursday');
      await settle(s);
      expect((await search('admin', { q: 'marimbas' })).hits.map((h) => h.id)).toEqual([id]);
      await s.pool.query('update public.messages set deleted_at = now() where id = $1', [id]);
      await settle(s);
      for (const who of [ALICE, BOB, 'admin']) {
        const r = await search(who, { q: 'marimbas', facets: ['channel_id'] });
        expect([r.hits, r.estimatedTotal, r.facets.channel_id]).toEqual([[], 0, []]);
      }
      const b = await s.as(BOB, SUGGEST, { index: 'nchat_messages', q: 'marim' });
      expect(b.data!.searchSuggest.suggestions).toEqual([]);
      await s.pool.query('update public.messages set deleted_at = null where id = $1', [id]);
      await settle(s);
      expect((await search(ALICE, { q: 'marimbas' })).hits.map((h) => h.id)).toEqual([id]);
      await s.pool.query('delete from public.messages where id = $1', [id]);
      await settle(s);
    });

    test('a change of a column the permission filter reads moves the row between scopes', async () => {
      const id = await s.message(GENERAL, BOB, 'Oboe lessons resume next week');
      await settle(s);
      expect((await search(ALICE, { q: 'oboe' })).hits.map((h) => h.id)).toEqual([id]);
      // Into Bob's private channel: out of Alice's scope, in hits, counts and facets.
      await s.pool.query('update public.messages set channel_id = $2 where id = $1', [id, BOB_PRIVATE]);
      await settle(s);
      const a = await search(ALICE, { q: 'oboe', facets: ['channel_id'] });
      expect([a.hits, a.estimatedTotal, a.facets.channel_id]).toEqual([[], 0, []]);
      const b = await search(BOB, { q: 'oboe', facets: ['channel_id'] });
      expect(b.hits.map((h) => [h.id, h.document.channel_id])).toEqual([[id, BOB_PRIVATE]]);
      expect(b.facets.channel_id).toEqual([{ value: BOB_PRIVATE, count: 1 }]);
      // A private channel made public is found by everyone (the column its own permission filter reads).
      const channels = async (who: string) => (await s.as(who, QUERY, { index: 'nchat_channels', q: 'plans' })).data!.searchQuery.hits.map((h: { id: string }) => h.id);
      expect(await channels(ALICE)).toEqual([]);
      await s.pool.query('update public.channels set is_private = false where id = $1', [BOB_PRIVATE]);
      await settle(s);
      expect(await channels(ALICE)).toEqual([BOB_PRIVATE]);
      await s.pool.query('update public.channels set is_private = true where id = $1', [BOB_PRIVATE]);
      await settle(s);
      expect(await channels(ALICE)).toEqual([]);
      await s.pool.query('delete from public.messages where id = $1', [id]);
      await settle(s);
    });
  });

  describe(`${engine}: bad input`, () => {
    test('query syntax characters, unbalanced quotes, huge, emoji and RTL queries never break the search', async () => {
      for (const q of [`&|!():*<>'"\\`, '"unbalanced meeting', "meeting' OR 1=1 --", 'x'.repeat(10_000), '🚀', 'مرحبا']) {
        const r = await search(ALICE, { q });
        expect(Array.isArray(r.hits)).toBe(true);
      }
      // Text PostgreSQL cannot store is refused by the server for every action, with a clear 400.
      for (const q of ['\u0000', 'a\ud800b']) expect((await fails(ALICE, { q })).extensions.code).toBe('invalid-input');
      expect((await search(ALICE, { q: '"unbalanced meeting' })).hits.length).toBeLessThanOrEqual(2);
    });

    test('unknown index, non-filterable column, bad operators, injection in values, huge limit, bad cursor', async () => {
      expect((await fails(ALICE, { index: 'nope', q: 'x' })).extensions.code).toBe('search/unknown-index');
      expect((await fails(ALICE, { q: 'x', filters: { body: { _eq: 'x' } } })).extensions.code).toBe('search/invalid-filter');
      expect((await fails(ALICE, { q: 'x', filters: { author_id: { _like: '%' } } })).extensions.code).toBe('search/invalid-filter');
      expect((await fails(ALICE, { q: 'x', filters: { channel: { members: {} } } })).extensions.code).toBe('search/invalid-filter');
      expect((await fails(ALICE, { q: 'x', filters: [1] })).extensions.code).toBe('search/invalid-filter');
      expect((await fails(ALICE, { q: 'x', facets: ['body'] })).extensions.code).toBe('search/invalid-facet');
      expect((await fails(ALICE, { q: 'x', sort: ['body:desc'] })).extensions.code).toBe('search/invalid-sort');
      expect((await fails(ALICE, { q: 'x', cursor: 'not-a-cursor' })).extensions.code).toBe('search/invalid-cursor');
      expect((await fails(ALICE, { q: 'x', limit: -1 })).extensions.code).toBe('search/invalid-input');
      const injected = await search(ALICE, { q: '', filters: { author_id: { _eq: `'); delete from public.messages; --` } } });
      expect(injected.hits).toEqual([]);
      expect((await s.pool.query('select count(*)::int as n from public.messages')).rows[0].n).toBeGreaterThanOrEqual(6);
      const capped = await search(ALICE, { q: '', limit: 1_000_000 });
      expect(capped.hits.length).toBe(5);
      const r = await s.as(ALICE, `query { searchQuery(index: "nchat_messages", q: 1) { query } }`);
      expect(r.errors?.length).toBe(1);
    });

    test('admin-only actions are not in a user’s schema', async () => {
      const r = await s.as(ALICE, `query { searchIndexStatus { name } }`);
      expect(r.errors?.[0]?.message).toMatch(/searchIndexStatus/);
      const status = await s.as('admin', `query { searchIndexStatus { name engine status pending lexiconTerms } }`);
      expect(status.data!.searchIndexStatus.map((x: { name: string }) => x.name)).toEqual(['nchat_messages', 'nchat_channels', 'nchat_users']);
    });
  });
}
