/**
 * The client SDK in Node against `nself-plugins dev` with JWT authentication: requests and subscriptions,
 * refreshing a refused token, resubscribing after the server closes an expired token's socket and after a
 * dropped connection, and errors with the server's codes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { createClientCore, fetchHttp, createNselfClient, createRealtime, createJobs, NselfError, refreshingToken, backoffDelay, jwtExpiry, type NselfClient } from '../../src/client/index.js';
import type { Operation } from '../../src/client/core.js';
import { startSdkDev, sleep, waitFor, type SdkDev } from './support/dev.js';

let s: SdkDev;
const CreateRoom = `mutation ($id: String!) { realtimeCreateRoom(id: $id, private: false) { id } }` as unknown as Operation<unknown, { id: string }>;
const clients: NselfClient[] = [];
const ROOMS = ['channel:general', 'channel:expiry', 'channel:drops'];
beforeAll(async () => {
  s = await startSdkDev('sdk_client');
  // Channels are created by the app's backend (service role); users join public ones themselves.
  const service = createNselfClient({ url: s.graphqlUrl, auth: await s.token('backend', { role: 'service' }) });
  for (const id of ROOMS) await service.request(CreateRoom, { id });
  await service.close();
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.close();
});

/** A `ws` whose live sockets the test can cut, as a network drop would. */
const sockets = new Set<WebSocket>();
class TrackedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    sockets.add(this);
    this.on('close', () => sockets.delete(this));
  }
}

function client(auth: Parameters<typeof createNselfClient>[0]['auth'], extra: Partial<Parameters<typeof createNselfClient>[0]> = {}): NselfClient {
  const c = createNselfClient({ url: s.graphqlUrl, auth, webSocketImpl: TrackedWebSocket, reconnect: { baseMs: 50, maxMs: 200 }, ...extra });
  clients.push(c);
  return c;
}

describe('requests', () => {
  it('may be made from another origin: the dev endpoint answers CORS preflights as Hasura does', async () => {
    const origin = 'http://app.localhost:5173';
    const pre = await fetch(s.graphqlUrl, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    const post = await fetch(s.graphqlUrl, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(post.headers.get('access-control-allow-origin')).toBe(origin);
    // Without a token the request is refused all the same: CORS opens no door authentication keeps shut.
    expect(((await post.json()) as { errors?: { extensions: { code: string } }[] }).errors?.[0]?.extensions.code).toBe('invalid-headers');
  });

  it('sends the token and answers typed data', async () => {
    const c = client(await s.token('ann'));
    const rt = createRealtime(c, { userId: 'ann' });
    expect(await rt.joinRoom('channel:general')).toEqual({ roomId: 'channel:general', role: expect.any(String), created: expect.any(Boolean) });
  });

  it("reports the server's error code and message", async () => {
    const rt = createRealtime(client(await s.token('ann')));
    const e = await rt.joinRoom('bad room id!').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NselfError);
    expect((e as NselfError).code).toBe('realtime/invalid-room-id');
    const denied = await createJobs(client(await s.token('ann'))).stats().catch((x: unknown) => x);
    expect((denied as NselfError).code).toBe('validation-failed');
  });

  it('does the same over the plain fetch transport', async () => {
    let refreshes = 0;
    const tokens = refreshingToken({ token: await s.token('bob', { expiresInSeconds: -60 }), marginMs: -3600_000, refresh: async () => (refreshes++, s.token('bob')) });
    const c = createClientCore({ url: s.graphqlUrl, auth: tokens, http: fetchHttp(s.graphqlUrl), webSocketImpl: TrackedWebSocket });
    clients.push(c);
    const rt = createRealtime(c);
    expect((await rt.joinRoom('channel:general')).roomId).toBe('channel:general');
    expect(refreshes).toBe(1);
    expect(((await rt.joinRoom('bad room id!').catch((x: unknown) => x)) as NselfError).code).toBe('realtime/invalid-room-id');
  });

  it('refreshes a refused token once and sends the request again', async () => {
    const expired = await s.token('bob', { expiresInSeconds: -60 });
    let refreshes = 0;
    const tokens = refreshingToken({ token: expired, marginMs: -3600_000, refresh: async () => (refreshes++, s.token('bob')) });
    const rt = createRealtime(client(tokens));
    expect((await rt.joinRoom('channel:general')).roomId).toBe('channel:general');
    expect(refreshes).toBe(1);
  });

  it('refreshes before a token expires, and shares one refresh between concurrent requests', async () => {
    let refreshes = 0;
    const soon = await s.token('cy', { expiresInSeconds: 5 });
    const tokens = refreshingToken({ token: soon, marginMs: 30_000, refresh: async () => (refreshes++, await sleep(50), s.token('cy')) });
    const rt = createRealtime(client(tokens));
    await Promise.all([rt.joinRoom('channel:general'), rt.joinRoom('channel:general'), rt.joinRoom('channel:general')]);
    expect(refreshes).toBe(1);
  });

  it('gives up with the error when the refreshed token is refused too', async () => {
    const tokens = refreshingToken({ token: 'not.a.jwt', refresh: async () => 'still.not.jwt' });
    const e = (await createRealtime(client(tokens)).joinRoom('channel:general').catch((x: unknown) => x)) as NselfError;
    expect(e.code).toBe('invalid-jwt');
  });

  it('reads exp from a JWT and nothing from an opaque token', async () => {
    const t = await s.token('ann', { expiresInSeconds: 100 });
    expect(Math.abs(jwtExpiry(t)! - (Date.now() + 100_000))).toBeLessThan(2000);
    expect(jwtExpiry('opaque-token')).toBeUndefined();
  });
});

describe('subscriptions', () => {
  it('resubscribes with a fresh token when the server closes the socket of an expired one', async () => {
    let refreshes = 0;
    const tokens = refreshingToken({ token: await s.token('dan', { expiresInSeconds: 2 }), marginMs: 0, refresh: async () => (refreshes++, s.token('dan', { expiresInSeconds: 3600 })) });
    const c = client(tokens);
    const dan = createRealtime(c, { userId: 'dan' });
    const eve = createRealtime(client(await s.token('eve')), { userId: 'eve' });
    await dan.joinRoom('channel:expiry');
    await eve.joinRoom('channel:expiry');
    const seen: string[][] = [];
    const errors: unknown[] = [];
    const stop = dan.onTyping('channel:expiry', (users) => seen.push(users.map((u) => u.user_id ?? '')), (e) => errors.push(e));
    await waitFor(() => seen.length > 0, 10_000, 'first typing result');
    await sleep(2600); // the token expires; the dev endpoint closes the socket with 4400 JWTExpired
    await eve.sendTyping('channel:expiry');
    await waitFor(() => seen.some((u) => u.includes('eve')), 10_000, 'typing after the token expired');
    expect(refreshes).toBeGreaterThanOrEqual(1);
    expect(errors).toEqual([]);
    stop();
    await eve.dispose();
  });

  it('reconnects with backoff after a dropped connection and sends the subscription again', async () => {
    const ann = createRealtime(client(await s.token('ann')), { userId: 'ann' });
    const bob = createRealtime(client(await s.token('bob')), { userId: 'bob' });
    await ann.joinRoom('channel:drops');
    await bob.joinRoom('channel:drops');
    const events: string[] = [];
    const stop = ann.onRoomEvents('channel:drops', (e) => void (e.type.startsWith('member:') || events.push(e.type)));
    await bob.broadcast('channel:drops', 'before');
    await waitFor(() => events.includes('before'), 10_000, 'event before the drop');
    const cut = [...sockets];
    expect(cut.length).toBeGreaterThan(0);
    for (const ws of cut) ws.terminate();
    await bob.broadcast('channel:drops', 'during');
    await waitFor(() => events.includes('during'), 10_000, 'event sent while disconnected');
    await bob.broadcast('channel:drops', 'after');
    await waitFor(() => events.includes('after'), 10_000, 'event after the reconnect');
    // The stream resumed from the last id seen: nothing twice, nothing lost.
    expect(events).toEqual(['before', 'during', 'after']);
    stop();
  });

  it('reports a GraphQL error of a subscription once, without retrying', async () => {
    const c = client(await s.token('ann'));
    const errors: NselfError[] = [];
    const Nope = `subscription { realtime_nope { id } }` as unknown as Operation<unknown, Record<string, never>>;
    c.subscribe(Nope, {}, { next: () => undefined, error: (e) => errors.push(e) });
    await waitFor(() => errors.length > 0, 5000, 'subscription error');
    await sleep(300);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/realtime_nope/);
    expect(errors[0]!.code).toBe('validation-failed');
  });

  it('backs off exponentially with jitter, capped', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, { baseMs: 100, maxMs: 1000, random: () => 0.999 }))).toEqual([100, 200, 400, 799, 999]);
    expect(backoffDelay(5, { random: () => 0 })).toBe(0);
  });
});

describe('jobs (admin)', () => {
  it('reads queue statistics with an admin token', async () => {
    const stats = await createJobs(client(await s.token('ops', { role: 'admin' }))).stats();
    expect(stats.map((q) => q.queue)).toEqual(expect.arrayContaining(['default']));
    for (const q of stats) expect(q).toEqual(expect.objectContaining({ waiting: expect.any(Number), failed: expect.any(Number), paused: expect.any(Boolean) }));
  });
});
