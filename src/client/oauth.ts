/**
 * OAuth sign-in (src/plugins/oauth/README.md): the providers for the buttons, the start (the browser goes to the
 * returned URL), the code exchange when the browser comes back, refresh through `oauthRefresh` before the access
 * token expires, and sign-out.
 *
 * The session lives in an `oauthSession()` token provider, which the client is created with
 * (`createNselfClient({ url, auth: session })`): every request and subscription then carries the signed-in
 * user's token, and a token that expires within the margin (or that the server refused) is replaced through
 * `oauthRefresh` first. The refresh token rotates on every use; a refresh the server refuses ends the session.
 */
import { jwtExpiry, refreshingToken, type TokenProvider } from './auth.js';
import type { NselfClient } from './core.js';
import { NselfError } from './errors.js';
import {
  OAuthExchangeCodeDocument,
  OAuthIdentitiesDocument,
  OAuthProvidersDocument,
  OAuthRefreshDocument,
  OAuthSignOutDocument,
  OAuthStartDocument,
  OAuthUnlinkDocument,
  type OAuthProvidersQuery,
  type OAuthSessionFieldsFragment,
} from './generated/operations.js';

export type OAuthProvider = OAuthProvidersQuery['oauthProviders'][number];
export type OAuthUser = OAuthSessionFieldsFragment['user'];

export interface OAuthSessionState {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (ms since the epoch). */
  expiresAt: number;
  user: OAuthUser;
}

/** `localStorage`, `sessionStorage`, or anything with their three methods. */
export interface SessionStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface OAuthSessionOptions {
  /** Keeps the session across page loads (default: memory only). */
  storage?: SessionStorageLike;
  /** Key in `storage` (default `nself.oauth.session`). */
  storageKey?: string;
  /** Refresh this long before the access token expires (default 30 s). */
  marginMs?: number;
  now?: () => number;
}

/** The token provider that holds an OAuth session; `createOAuth` fills it and refreshes it. */
export interface OAuthSessionProvider extends TokenProvider {
  readonly session: OAuthSessionState | null;
  /** Replaces the session (null: signed out) and tells the listeners. */
  set(session: OAuthSessionState | null): void;
  onChange(listener: (session: OAuthSessionState | null) => void): () => void;
  /** Set by `createOAuth`: how a refresh token becomes a new session. */
  refresher?: (refreshToken: string) => Promise<OAuthSessionState>;
  /** Code exchanges in flight, so that two components handling the same redirect exchange the code once. */
  readonly exchanges: Map<string, Promise<OAuthSessionState>>;
}

const isSession = (v: unknown): v is OAuthSessionState => {
  const s = v as Partial<OAuthSessionState> | null;
  return !!s && typeof s.accessToken === 'string' && typeof s.refreshToken === 'string' && typeof s.expiresAt === 'number' && typeof s.user?.id === 'string';
};

/** A token provider for OAuth sessions: pass it as the client's `auth`, then `createOAuth(client)`. */
export function oauthSession(o: OAuthSessionOptions = {}): OAuthSessionProvider {
  const key = o.storageKey ?? 'nself.oauth.session';
  const now = o.now ?? Date.now;
  const listeners = new Set<(s: OAuthSessionState | null) => void>();
  let session: OAuthSessionState | null = null;
  try {
    const stored = o.storage?.getItem(key);
    const parsed: unknown = stored ? JSON.parse(stored) : null;
    if (isSession(parsed)) session = parsed;
  } catch {
    session = null; // a damaged entry is a signed-out browser, not an error
  }
  const set = (next: OAuthSessionState | null) => {
    session = next;
    if (next) o.storage?.setItem(key, JSON.stringify(next));
    else o.storage?.removeItem(key);
    for (const l of listeners) l(next);
  };
  const provider: OAuthSessionProvider = {
    get session() {
      return session;
    },
    set,
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    exchanges: new Map(),
    getToken: () => tokens.getToken(),
    invalidate: () => tokens.invalidate(),
  };
  const tokens = refreshingToken({
    marginMs: o.marginMs ?? 30_000,
    now,
    // The access token of the current session, replaced through the refresher when it is about to expire (or was
    // refused). Without a session, or without a refresher yet, there is no token to send.
    refresh: async (current) => {
      const s = session;
      if (!s) return null;
      const usable = current === s.accessToken ? null : s.accessToken;
      if (usable && (jwtExpiry(usable) ?? s.expiresAt) - (o.marginMs ?? 30_000) > now()) return usable; // set() put in a newer one
      if (!provider.refresher) return null;
      try {
        const next = await provider.refresher(s.refreshToken);
        // A sign-out or another sign-in while the refresh was in flight wins.
        if (session === s) set(next);
        return session?.accessToken ?? null;
      } catch (e) {
        // The server refused the refresh token (expired, revoked, reused): the session is over. A network failure
        // keeps the session, to be refreshed on the next request.
        if (e instanceof NselfError && e.code.startsWith('oauth/') && session === s) set(null);
        throw e;
      }
    },
  });
  // A new session (sign-in, refresh, sign-out) makes the cached token stale.
  listeners.add(() => tokens.invalidate());
  return provider;
}

const toState = (s: OAuthSessionFieldsFragment, now: number): OAuthSessionState => ({
  accessToken: s.accessToken,
  refreshToken: s.refreshToken,
  expiresAt: jwtExpiry(s.accessToken) ?? now + s.expiresIn * 1000,
  user: s.user,
});

export interface StartOptions {
  /** Where the browser comes back with `?code=` (one of OAUTH_REDIRECT_ALLOWLIST). Default: this page. */
  redirectTo?: string;
  /** Add the provider account to the signed-in user. */
  link?: boolean;
  /** Send the browser to the sign-in now (default true in a browser). */
  redirect?: boolean;
}

/** The query parameter naming the provider on the way back, so that only its button handles the redirect. */
export const PROVIDER_PARAM = 'oauth_provider';

interface LocationLike {
  href: string;
  assign(url: string): void;
}
const location = (): LocationLike | undefined => (globalThis as unknown as { location?: LocationLike }).location;

export interface RedirectResult {
  provider: string | null;
  session: OAuthSessionState;
}

export function createOAuth(client: NselfClient, opts: { now?: () => number } = {}) {
  const store = client.tokens as Partial<OAuthSessionProvider>;
  if (typeof store.set !== 'function' || !(store.exchanges instanceof Map))
    throw new NselfError('create the client with an OAuth session: createNselfClient({ url, auth: oauthSession() })', 'oauth/no-session-provider');
  const session = store as OAuthSessionProvider;
  const now = opts.now ?? Date.now;
  session.refresher = async (refreshToken) =>
    toState((await client.request(OAuthRefreshDocument, { refreshToken }, { anonymous: true })).oauthRefresh, now());

  async function exchangeCode(code: string, o: { link?: boolean } = {}): Promise<OAuthSessionState> {
    let pending = session.exchanges.get(code);
    if (!pending) {
      // A sign-in code is exchanged without the old session's token (which may be the reason to sign in again); a
      // link code belongs to the signed-in user, so it goes with theirs.
      pending = client.request(OAuthExchangeCodeDocument, { code }, o.link ? {} : { anonymous: true }).then((r) => {
        const next = toState(r.oauthExchangeCode, now());
        session.set(next);
        return next;
      });
      session.exchanges.set(code, pending);
      pending.catch(() => session.exchanges.delete(code));
    }
    return pending;
  }

  return {
    session,
    get user(): OAuthUser | null {
      return session.session?.user ?? null;
    },
    // The same list for everyone: asked without the session, so a sign-in page works whatever state the session is in.
    providers: async (): Promise<OAuthProvider[]> => (await client.request(OAuthProvidersDocument, {}, { anonymous: true })).oauthProviders,

    /**
     * Starts a sign-in: answers the URL to open (this server's start URL, which binds the sign-in to the browser)
     * and, in a browser, goes there. The browser comes back to `redirectTo` with `?code=` or `?error=`.
     */
    async start(provider: string, o: StartOptions = {}): Promise<{ url: string; expiresAt: string }> {
      const here = location();
      const base = o.redirectTo ?? here?.href;
      if (!base) throw new NselfError('redirectTo is required outside a browser', 'oauth/invalid-input');
      const back = new URL(base);
      for (const k of ['code', 'error', PROVIDER_PARAM]) back.searchParams.delete(k);
      back.searchParams.set(PROVIDER_PARAM, provider);
      const r = (await client.request(OAuthStartDocument, { provider, redirectTo: back.toString(), link: o.link ?? null }, o.link ? {} : { anonymous: true })).oauthStart;
      if (o.redirect ?? here !== undefined) here?.assign(r.url);
      return r;
    },

    exchangeCode,

    /**
     * Finishes a sign-in on the page the browser came back to: exchanges `?code=` (once, however many components
     * ask), or throws the `?error=` code. Answers null when the URL is not a sign-in's return.
     */
    async handleRedirect(url?: string, o: { link?: boolean } = {}): Promise<RedirectResult | null> {
      const href = url ?? location()?.href;
      if (!href) return null;
      const u = new URL(href);
      const provider = u.searchParams.get(PROVIDER_PARAM);
      const error = u.searchParams.get('error');
      if (error) throw new NselfError(`sign-in failed: ${error}`, error.startsWith('oauth/') ? error : `oauth/${error}`, provider ? { provider } : {});
      const code = u.searchParams.get('code');
      if (!code) return null;
      return { provider, session: await exchangeCode(code, o) };
    },

    /** A new session now (normally done by the token provider when the access token nears expiry). */
    async refresh(): Promise<OAuthSessionState | null> {
      const s = session.session;
      if (!s) return null;
      try {
        const next = await session.refresher!(s.refreshToken);
        if (session.session === s) session.set(next);
        return session.session;
      } catch (e) {
        if (e instanceof NselfError && e.code.startsWith('oauth/') && session.session === s) session.set(null); // refused: the session is over
        throw e;
      }
    },

    /** Ends this session (or, with `all`, every session of the user) on the server, and forgets it here. */
    async signOut(o: { all?: boolean } = {}): Promise<number> {
      const s = session.session;
      if (!s) return 0;
      try {
        return (await client.request(OAuthSignOutDocument, { refreshToken: s.refreshToken, all: o.all ?? null })).oauthSignOut.revoked;
      } finally {
        if (session.session === s) session.set(null);
      }
    },

    identities: async () => (await client.request(OAuthIdentitiesDocument, {})).oauthIdentities,
    unlink: async (identityId: string) => (await client.request(OAuthUnlinkDocument, { identityId })).oauthUnlink,
  };
}

export type OAuth = ReturnType<typeof createOAuth>;
