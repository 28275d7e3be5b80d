/**
 * The oauth module against `nself-plugins dev` with the oauth plugin and a real OpenID Provider (oidc-provider),
 * a browser simulated by a cookie jar: providers, start, the code exchange (once, however many ask), requests
 * as the signed-in user, refresh through `oauthRefresh` when the access token nears expiry (one refresh for
 * concurrent requests, the refresh token rotated), a refused refresh ending the session, sign-out, and errors.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { createNselfClient, createOAuth, NselfError, oauthSession, PROVIDER_PARAM, type NselfClient, type OAuthSessionState, type Operation } from '../../src/client/index.js';
import { newBrowser } from '../../src/plugins/oauth/__tests__/support/idp.js';
import { PROVIDER, startSearchOAuthDev, type SearchOAuthDev } from './support/search-oauth.js';

const APP = 'https://app.example.com/auth/done';
let s: SearchOAuthDev;
const clients: NselfClient[] = [];

beforeAll(async () => {
  s = await startSearchOAuthDev('sdk_oauth', 'https://app.example.com/auth/');
  s.idp.accounts.set('ann', { email: 'ann@example.com', email_verified: true, name: 'Ann Example' });
  s.idp.accounts.set('ben', { email: 'ben@example.com', email_verified: true, name: 'Ben Example' });
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.close();
});

/** A client with an OAuth session whose clock the test may move. */
function app(clock = { offsetMs: 0 }, fetchImpl?: typeof fetch) {
  const session = oauthSession({ now: () => Date.now() + clock.offsetMs });
  const client = createNselfClient({ url: s.graphqlUrl, auth: session, webSocketImpl: WebSocket, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  clients.push(client);
  return { client, session, oauth: createOAuth(client, { now: () => Date.now() + clock.offsetMs }), clock };
}

/** Starts a sign-in and goes through the provider's pages as `login`; answers the URL the browser came back to. */
async function signInAt(oauth: ReturnType<typeof createOAuth>, login: string): Promise<URL> {
  const { url } = await oauth.start(PROVIDER, { redirectTo: APP });
  return newBrowser().signIn(url, login, APP);
}

const Whoami = `query { oauthIdentities { provider email } }` as unknown as Operation<{ oauthIdentities: { provider: string; email: string | null }[] }, Record<string, never>>;

describe('sign-in', () => {
  it('lists the providers to a signed-out page', async () => {
    const { oauth } = app();
    expect(await oauth.providers()).toEqual([{ id: PROVIDER, displayName: 'Test IdP', kind: 'oidc' }]);
  });

  it('starts, comes back with a code, exchanges it once and makes requests as the user', async () => {
    const { client, oauth, session } = app();
    const changes: (OAuthSessionState | null)[] = [];
    session.onChange((x) => changes.push(x));
    const back = await signInAt(oauth, 'ann');
    expect(back.searchParams.get(PROVIDER_PARAM)).toBe(PROVIDER);
    expect(back.searchParams.get('code')).toEqual(expect.any(String));
    // Two components handling the same redirect: one exchange, one session.
    const [a, b] = await Promise.all([oauth.handleRedirect(back.href), oauth.handleRedirect(back.href)]);
    expect(a!.session).toBe(b!.session);
    expect(a).toMatchObject({ provider: PROVIDER, session: { user: { email: 'ann@example.com', displayName: 'Ann Example' } } });
    expect(changes).toHaveLength(1);
    expect(oauth.user?.email).toBe('ann@example.com');
    expect((await client.request(Whoami)).oauthIdentities).toEqual([{ provider: PROVIDER, email: 'ann@example.com' }]);
    // The code is single-use: another page presenting it is refused.
    const other = app();
    expect(((await other.oauth.exchangeCode(back.searchParams.get('code')!).catch((e: unknown) => e)) as NselfError).code).toBe('oauth/invalid-code');
    expect(other.session.session).toBeNull();
  });

  it("throws the provider's error from the redirect, and ignores a page that is not one", async () => {
    const { oauth, session } = app();
    const e = (await oauth.handleRedirect(`${APP}?${PROVIDER_PARAM}=${PROVIDER}&error=oauth/provider-denied`).catch((x: unknown) => x)) as NselfError;
    expect([e.code, e.extensions.provider]).toEqual(['oauth/provider-denied', PROVIDER]);
    expect(await oauth.handleRedirect(`${APP}?page=2`)).toBeNull();
    expect(session.session).toBeNull();
  });

  it('refuses an unknown provider, a redirect outside the allow-list and a malformed code, changing nothing', async () => {
    const { oauth, session } = app();
    expect(((await oauth.start('nope', { redirectTo: APP }).catch((e: unknown) => e)) as NselfError).code).toBe('oauth/unknown-provider');
    expect(((await oauth.start(PROVIDER, { redirectTo: 'https://evil.example/auth/done' }).catch((e: unknown) => e)) as NselfError).code).toBe('oauth/redirect-not-allowed');
    expect(((await oauth.exchangeCode('x'.repeat(300)).catch((e: unknown) => e)) as NselfError).code).toBe('oauth/invalid-input');
    expect(((await oauth.start(PROVIDER).catch((e: unknown) => e)) as NselfError).code).toBe('oauth/invalid-input'); // no page to come back to
    expect(session.session).toBeNull();
  });
});

describe('refresh', () => {
  it('refreshes through oauthRefresh when the access token nears expiry: once for concurrent requests, rotating the refresh token', async () => {
    let refreshes = 0;
    const counting = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(init?.body).includes('oauthRefresh')) refreshes++;
      return fetch(input, init);
    }) as typeof fetch;
    const { client, oauth, session, clock } = app({ offsetMs: 0 }, counting);
    await oauth.handleRedirect((await signInAt(oauth, 'ben')).href);
    const first = session.session!;
    expect(first.expiresAt).toBeGreaterThan(Date.now());
    await client.request(Whoami);
    expect(refreshes).toBe(0);
    // 20 s before expiry, within the 30 s margin: the next requests wait for one refresh and go with its token.
    clock.offsetMs = first.expiresAt - Date.now() - 20_000;
    const answers = await Promise.all([client.request(Whoami), client.request(Whoami), client.request(Whoami)]);
    for (const a of answers) expect(a.oauthIdentities).toEqual([{ provider: PROVIDER, email: 'ben@example.com' }]);
    expect(refreshes).toBe(1);
    const second = session.session!;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.user.id).toBe(first.user.id);
    // The first refresh token was used up by the rotation.
    const replay = app();
    replay.session.set(first);
    expect(((await replay.oauth.refresh().catch((e: unknown) => e)) as NselfError).code).toBe('oauth/refresh-token-reused');
    expect(replay.session.session).toBeNull();
  });

  it('ends the session when the server refuses the refresh token, and sends the request without a token', async () => {
    const { client, oauth, session, clock } = app();
    await oauth.handleRedirect((await signInAt(oauth, 'ann')).href);
    const signedIn = session.session!;
    // Another device signs out everywhere: this session's refresh token is revoked.
    const elsewhere = app();
    elsewhere.session.set(signedIn);
    expect(await elsewhere.oauth.signOut({ all: true })).toBeGreaterThanOrEqual(1);
    const ended: (OAuthSessionState | null)[] = [];
    session.onChange((x) => ended.push(x));
    clock.offsetMs = signedIn.expiresAt - Date.now() + 1000;
    const e = (await client.request(Whoami).catch((x: unknown) => x)) as NselfError;
    expect(e.code).toBe('oauth/invalid-refresh-token');
    expect(ended).toEqual([null]);
    expect(session.session).toBeNull();
    // Signed out now: a request goes without a token (the public role), which may not read identities.
    expect(((await client.request(Whoami).catch((x: unknown) => x)) as NselfError).code).toBe('validation-failed');
  });
});

describe('sign-out', () => {
  it('revokes the session on the server and forgets it here', async () => {
    const { oauth, session } = app();
    await oauth.handleRedirect((await signInAt(oauth, 'ben')).href);
    const before = session.session!;
    expect(await oauth.signOut()).toBe(1);
    expect(session.session).toBeNull();
    expect(oauth.user).toBeNull();
    const again = app();
    again.session.set(before);
    expect(((await again.oauth.refresh().catch((e: unknown) => e)) as NselfError).code).toBe('oauth/invalid-refresh-token');
    expect(await oauth.signOut()).toBe(0); // already signed out: nothing to send
  });

  it('needs the client to hold an OAuth session', () => {
    const plain = createNselfClient({ url: s.graphqlUrl });
    clients.push(plain);
    expect(() => createOAuth(plain)).toThrow(/auth: oauthSession\(\)/);
  });
});
