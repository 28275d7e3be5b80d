/**
 * Subscriptions over graphql-ws: live queries (sent on change only, one poller per distinct query, variables
 * and session), `<t>_stream` with a cursor and batch_size, and permissions inside both.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { asUser, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
const clients: Client[] = [];
beforeAll(async () => {
  f = await startChat('dev_subs', { subscriptions: { refetchIntervalMs: 40, streamIntervalMs: 40 } });
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  await f?.close();
});

function client(headers: Record<string, string> = {}): Client {
  const c = createClient({ url: f.url.replace('http', 'ws') + '/v1/graphql', webSocketImpl: WebSocket, connectionParams: { headers }, retryAttempts: 0 });
  clients.push(c);
  return c;
}

/** Collects the results of a subscription; `until(n)` waits for n of them. */
function collect(c: Client, query: string, variables?: Record<string, unknown>) {
  const results: any[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let failure: unknown;
  const stop = c.subscribe(
    { query, ...(variables ? { variables } : {}) },
    {
      next: (r) => {
        results.push(r);
        for (const w of waiters.filter((w) => results.length >= w.n)) w.resolve();
      },
      error: (e) => (failure = e),
      complete: () => undefined,
    },
  );
  return {
    results,
    stop,
    get failure() {
      return failure;
    },
    until: (n: number, ms = 5000) =>
      new Promise<void>((resolve, reject) => {
        if (results.length >= n) return resolve();
        const t = setTimeout(() => reject(new Error(`only ${results.length} of ${n} results after ${ms} ms: ${JSON.stringify(results)}`)), ms);
        waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live queries', () => {
  it('sends the first result, then only when the result changed', async () => {
    const s = collect(client(), `subscription { rooms_by_pk(id: 3) { name messages_aggregate { aggregate { count } } } }`);
    await s.until(1);
    expect(s.results[0]).toEqual({ data: { rooms_by_pk: { name: 'bobs', messages_aggregate: { aggregate: { count: 1 } } } } });
    await sleep(300); // several refetches of an unchanged result
    expect(s.results).toHaveLength(1);
    await f.pool.query(`INSERT INTO messages (room_id, author_id, body) VALUES (3, 'u2', 'live!')`);
    await s.until(2);
    expect(s.results[1].data.rooms_by_pk.messages_aggregate.aggregate.count).toBe(2);
    await f.pool.query(`UPDATE users SET name = name WHERE id = 'u1'`); // unrelated write
    await sleep(200);
    expect(s.results).toHaveLength(2);
    s.stop();
  });

  it('shares one poller between subscribers of the same query, variables and session', async () => {
    // Earlier tests' subscriptions end asynchronously (the client's complete message).
    for (let i = 0; i < 100 && f.endpoint.subscriptions.pollers > 0; i++) await sleep(20);
    const before = f.endpoint.subscriptions.pollers;
    expect(before).toBe(0);
    const q = `subscription ($r: Int!) { messages(where: {room_id: {_eq: $r}}, order_by: {id: asc}) { id body } }`;
    const a = collect(client(asUser('u1')), q, { r: 1 });
    const b = collect(client(asUser('u1')), q, { r: 1 });
    const other = collect(client(asUser('u2')), q, { r: 1 });
    await Promise.all([a.until(1), b.until(1), other.until(1)]);
    expect(f.endpoint.subscriptions.pollers).toBe(before + 2);
    expect(a.results[0]).toEqual(b.results[0]);
    a.stop();
    b.stop();
    other.stop();
    await sleep(100);
    expect(f.endpoint.subscriptions.pollers).toBe(before);
  });

  it('applies the role permissions: another user sees no rows of a room they are not in', async () => {
    const s = collect(client(asUser('u3')), `subscription { messages(where: {room_id: {_eq: 2}}) { id } }`);
    await s.until(1);
    expect(s.results[0]).toEqual({ data: { messages: [] } });
    await f.pool.query(`INSERT INTO messages (room_id, author_id, body) VALUES (2, 'u1', 'private')`);
    await sleep(250);
    expect(s.results).toHaveLength(1);
    s.stop();
  });

  it('reports validation errors of a subscription as Hasura errors', async () => {
    const s = collect(client(asUser('u1')), `subscription { users_aggregate { aggregate { count } } }`);
    await sleep(200);
    expect((s.failure as any[])[0]).toMatchObject({ message: `field "users_aggregate" not found in type: 'subscription_root'`, extensions: { code: 'validation-failed' } });
  });

  it('reports a variable PostgreSQL cannot read as an error, live and streaming', async () => {
    const live = collect(client(asUser('u1')), `subscription ($after: timestamptz) { messages(where: {created_at: {_gt: $after}}) { body } }`, { after: 'not-a-date' });
    const stream = collect(client(asUser('u1')), `subscription ($after: timestamptz) { messages_stream(batch_size: 2, cursor: {initial_value: {created_at: $after}}) { body } }`, { after: 'not-a-date' });
    await sleep(500);
    for (const s of [live, stream]) {
      // Sent as a result carrying the error (then the subscription ends), as Hasura reports a data exception.
      const errors = (s.failure as any[] | undefined) ?? s.results[0]?.errors;
      expect(errors?.[0]).toMatchObject({ message: 'invalid input syntax for type timestamp with time zone: "not-a-date"', extensions: { code: 'data-exception' } });
      expect(s.results.filter((r) => r.data)).toEqual([]);
    }
  });
});

describe('streaming subscriptions', () => {
  it('streams in batches after the cursor, then new rows as they arrive', async () => {
    const s = collect(client(asUser('u1')), `subscription ($after: timestamptz) { messages_stream(batch_size: 2, cursor: {initial_value: {created_at: $after}, ordering: ASC}) { body created_at } }`, { after: '2029-12-31T00:00:00Z' });
    await s.until(2);
    expect(s.results[0].data.messages_stream.map((m: { body: string }) => m.body)).toEqual(['hello all', 'hi ann']);
    expect(s.results[1].data.messages_stream.map((m: { body: string }) => m.body)).toEqual(['note to self']);
    await sleep(200);
    const seen = s.results.flatMap((r) => r.data.messages_stream.map((m: { body: string }) => m.body));
    await f.pool.query(`INSERT INTO messages (room_id, author_id, body, created_at) VALUES (1, 'u2', 'streamed later', '2031-01-01T00:00:00Z'), (3, 'u2', 'not for u1', '2031-01-02T00:00:00Z')`);
    await s.until(s.results.length + 1);
    const after = s.results.flatMap((r) => r.data.messages_stream.map((m: { body: string }) => m.body));
    expect(after.slice(seen.length)).toEqual(['streamed later']);
    expect(new Set(after).size).toBe(after.length); // nothing twice
    s.stop();
  });

  it('resumes from a given cursor value, in descending order too', async () => {
    const asc = collect(client(), `subscription { messages_stream(batch_size: 10, cursor: {initial_value: {id: 2}}) { id } }`);
    await asc.until(1);
    expect(asc.results[0].data.messages_stream[0].id).toBe(3);
    asc.stop();
    const desc = collect(client(), `subscription { messages_stream(batch_size: 1, cursor: {initial_value: {id: 3}, ordering: DESC}) { id } }`);
    await desc.until(2);
    expect(desc.results.map((r) => r.data.messages_stream[0].id)).toEqual([2, 1]);
    desc.stop();
  });
});
