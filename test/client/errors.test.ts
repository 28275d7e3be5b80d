/**
 * What the client reports when the endpoint misbehaves: a proxy's HTML error page, a refused connection, a
 * cancelled request, GraphQL errors with and without codes — always an NselfError with a code, never a raw throw.
 */
import { describe, expect, it } from '@jest/globals';
import { createClientCore, createNselfClient, fetchHttp, NselfError, type NselfClientOptions, type Operation } from '../../src/client/index.js';

const Q = `query { __typename }` as unknown as Operation<{ __typename: string }, Record<string, never>>;
const URL_ = 'http://127.0.0.1:9/v1/graphql';
const transports: Array<[string, (o: NselfClientOptions) => ReturnType<typeof createNselfClient>]> = [
  ['graphql-request', (o) => createNselfClient(o)],
  ['fetch', (o) => createClientCore({ ...o, http: fetchHttp(o.url, o.fetch) })],
];
const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('resolved'); }, (e: unknown) => e as NselfError);

describe.each(transports)('client errors over %s', (_name, make) => {
  const client = (fetchImpl: typeof fetch) => make({ url: URL_, fetch: fetchImpl });
  it('turns a non-GraphQL answer (a proxy error page) into http-error with the status', async () => {
    const e = await fail(client(async () => new Response('<html>502 Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } })).request(Q));
    expect(e).toBeInstanceOf(NselfError);
    expect([e.code, e.status]).toEqual(['http-error', 502]);
  });

  it('turns a refused connection into network', async () => {
    const e = await fail(make({ url: URL_ }).request(Q));
    expect(e.code).toBe('network');
  });

  it('reports a cancelled request as aborted', async () => {
    const ac = new AbortController();
    let sent!: () => void;
    const inFlight = new Promise<void>((r) => (sent = r));
    const slow = ((_: unknown, init?: RequestInit) =>
      new Promise((_, reject) => {
        sent();
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      })) as typeof fetch;
    const p = fail(client(slow).request(Q, {}, { signal: ac.signal }));
    await inFlight;
    ac.abort();
    expect((await p).code).toBe('aborted');
    // Cancelled before it was sent: nothing goes out.
    let calls = 0;
    const counted = (async () => (calls++, new Response('{}'))) as typeof fetch;
    const early = fail(client(counted).request(Q, {}, { signal: AbortSignal.abort() }));
    expect([(await early).code, calls]).toEqual(['aborted', 0]);
  });

  it("keeps the first GraphQL error's code, message and extensions, and counts the rest", async () => {
    const body = { errors: [{ message: 'too big', extensions: { code: 'realtime/rate-limited', retryAfterSeconds: 7, path: '$' } }, { message: 'second' }] };
    const e = await fail(client(async () => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })).request(Q));
    expect([e.code, e.message, e.retryAfterSeconds]).toEqual(['realtime/rate-limited', 'too big (and 1 more)', 7]);
    const plain = await fail(client(async () => new Response(JSON.stringify({ errors: [{ message: 'no code' }] }), { headers: { 'content-type': 'application/json' } })).request(Q));
    expect(plain.code).toBe('graphql-error');
  });
});
