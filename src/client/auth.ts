/**
 * Where the SDK gets its bearer token. A token provider hands out the current token and, when the server says
 * it no longer works (or it is about to expire), a fresh one: the `oauth` plugin's `oauthRefresh`, Nhost's
 * `/token` refresh, or anything returning a Hasura JWT.
 */

export interface TokenProvider {
  /** The token to send now (refreshing first when it expires within the margin), or null to send none. */
  getToken(): Promise<string | null>;
  /** Forgets the current token: the next `getToken()` refreshes. Called when the server refused it. */
  invalidate(): void;
}

export interface RefreshingTokenOptions {
  /** A token to start with (skips the first refresh). */
  token?: string | null;
  /** Gets a new token; receives the current one. Concurrent callers share one refresh. */
  refresh: (current: string | null) => Promise<string | null>;
  /** Refresh this long before the token's `exp` (default 30 s). */
  marginMs?: number;
  now?: () => number;
}

/** `exp` of a JWT in milliseconds, or undefined for an opaque token. Nothing is verified: the server does that. */
export function jwtExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function refreshingToken(o: RefreshingTokenOptions): TokenProvider {
  let current = o.token ?? null;
  let stale = current === null;
  let inFlight: Promise<string | null> | undefined;
  const margin = o.marginMs ?? 30_000;
  const now = o.now ?? Date.now;
  const expiresSoon = (t: string) => {
    const exp = jwtExpiry(t);
    return exp !== undefined && exp - margin <= now();
  };
  return {
    async getToken() {
      if (!stale && current !== null && !expiresSoon(current)) return current;
      inFlight ??= o.refresh(current).then(
        (t) => {
          current = t;
          stale = false;
          inFlight = undefined;
          return t;
        },
        (e: unknown) => {
          inFlight = undefined;
          throw e;
        },
      );
      return inFlight;
    },
    invalidate() {
      stale = true;
    },
  };
}

/** A fixed token (or none): for service backends with a long-lived token, and for tests. */
export function staticToken(token: string | null): TokenProvider {
  return { getToken: async () => token, invalidate: () => undefined };
}
