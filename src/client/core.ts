/**
 * The framework-free client core: GraphQL over HTTP through a transport (`graphql-request` by default, see
 * client.ts; a plain fetch one in http.ts) and subscriptions through `graphql-ws`, both through Hasura (or
 * `nself-plugins dev`). The token comes from a `TokenProvider`; a refused token is
 * refreshed once and the request sent again, and a subscription whose socket Hasura closed for an expired token
 * resubscribes with a fresh one. Dropped sockets reconnect with backoff and every open subscription is sent
 * again (live queries answer the current state; stream cursors resume from the last row seen).
 *
 * The subscription side (subscriptions.ts with `graphql-ws`) is imported on the first subscription, not with the
 * core: a page that only queries and mutates never loads it, and a bundler splits it into its own chunk, so the
 * core a page loads stays under 15 kB gzip with graphql-request.
 */
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { staticToken, type TokenProvider } from './auth.js';
import type { BackoffOptions } from './backoff.js';
import { NselfError, isAuthError } from './errors.js';
import type { HttpTransport } from './http.js';
import type { Subscriptions } from './subscriptions.js';

/** A generated operation: its text, with result and variables types attached. */
export type Operation<R, V> = DocumentTypeDecoration<R, V> & { toString(): string };
export type Variables = Record<string, unknown>;

export interface NselfClientOptions {
  /** Hasura's GraphQL endpoint: `https://api.example.com/v1/graphql`. */
  url: string;
  /** WebSocket endpoint (default: `url` with `ws`/`wss`). */
  wsUrl?: string;
  /** Bearer token source (default: none). A string is a fixed token. */
  auth?: TokenProvider | string | null;
  /** `x-hasura-role` to ask for (one of the token's allowed roles). */
  role?: string;
  /** Further headers on every request and in the socket's `connection_init` (e.g. the admin secret on a backend). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** How queries and mutations are sent (default in `createNselfClient`: graphql-request). */
  http?: HttpTransport;
  /** WebSocket implementation outside browsers (`ws` in Node). */
  webSocketImpl?: unknown;
  /** Backoff of resubscriptions after a dropped or failed connection (`attempts` in a row, default unlimited). */
  reconnect?: BackoffOptions & { attempts?: number };
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Role for this request only. */
  role?: string;
  /**
   * Send without the token provider's token and role (Hasura's unauthorized role): for the requests that obtain a
   * token (`oauthRefresh`, `oauthExchangeCode`), which must not wait for the token they are getting.
   */
  anonymous?: boolean;
}

export interface SubscribeHandlers<R> {
  next(data: R): void;
  /** A GraphQL error of the subscription (validation, permission), or a connection that cannot be made again. */
  error?(e: NselfError): void;
}

export interface Subscription {
  (): void;
  unsubscribe(): void;
}

export interface NselfClient {
  readonly url: string;
  request<R, V extends Variables>(op: Operation<R, V>, variables?: V, opts?: RequestOptions): Promise<R>;
  /** `variables` may be a function: it is called again for every (re)subscription (stream cursors). */
  subscribe<R, V extends Variables>(op: Operation<R, V>, variables: V | (() => V), handlers: SubscribeHandlers<R>, opts?: { role?: string }): Subscription;
  /** Resolves with the first result that `until` accepts. */
  waitFor<R, V extends Variables>(op: Operation<R, V>, variables: V, until: (data: R) => boolean, opts?: { signal?: AbortSignal; role?: string }): Promise<R>;
  readonly tokens: TokenProvider;
  /** Socket state, for an app's "reconnecting…" banner. */
  onConnectionChange(listener: (state: 'connecting' | 'connected' | 'closed') => void): () => void;
  close(): Promise<void>;
}

/** The client over a given HTTP transport; `createNselfClient` (client.ts) picks graphql-request. */
export function createClientCore(o: NselfClientOptions & { http: HttpTransport }): NselfClient {
  const tokens: TokenProvider = typeof o.auth === 'string' || o.auth === null || o.auth === undefined ? staticToken(o.auth ?? null) : o.auth;
  const wsUrl = o.wsUrl ?? o.url.replace(/^http/, 'ws');
  const http = o.http;
  const listeners = new Set<(state: 'connecting' | 'connected' | 'closed') => void>();
  const emit = (s: 'connecting' | 'connected' | 'closed') => listeners.forEach((l) => l(s));

  async function headers(role: string | undefined, anonymous = false): Promise<Record<string, string>> {
    if (anonymous) return { ...o.headers };
    const token = await tokens.getToken();
    return { ...o.headers, ...(token ? { authorization: `Bearer ${token}` } : {}), ...((role ?? o.role) ? { 'x-hasura-role': (role ?? o.role)! } : {}) };
  }

  async function request<R, V extends Variables>(op: Operation<R, V>, variables?: V, opts: RequestOptions = {}): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      try {
        const requestHeaders = await headers(opts.role, opts.anonymous);
        if (opts.signal?.aborted) throw new NselfError('the operation was cancelled', 'aborted');
        return (await http({ query: op.toString(), ...(variables ? { variables } : {}), headers: requestHeaders, ...(opts.signal ? { signal: opts.signal } : {}) })) as R;
      } catch (e) {
        const err = e instanceof NselfError ? e : opts.signal?.aborted ? new NselfError('the operation was cancelled', 'aborted') : new NselfError((e as Error)?.message ?? String(e), 'network');
        // A token refused as expired or invalid: refresh once and send again.
        if (attempt === 0 && !opts.anonymous && isAuthError(err)) {
          tokens.invalidate();
          continue;
        }
        throw err;
      }
    }
  }

  let subscriptions: Promise<Subscriptions> | undefined;
  /** The subscription machinery and graphql-ws, loaded with the first subscription. */
  function loadSubscriptions(): Promise<Subscriptions> {
    subscriptions ??= import('./subscriptions.js').then(
      (m) => m.createSubscriptions({ wsUrl, tokens, headers, emit, ...(o.role !== undefined ? { role: o.role } : {}), ...(o.webSocketImpl ? { webSocketImpl: o.webSocketImpl } : {}), ...(o.reconnect ? { reconnect: o.reconnect } : {}) }),
      (e: unknown) => {
        subscriptions = undefined; // a failed load (a network hiccup fetching the chunk) is tried again by the next subscription
        throw new NselfError(`could not load the subscription transport: ${String((e as Error)?.message ?? e)}`, 'network');
      },
    );
    return subscriptions;
  }

  function subscribe<R, V extends Variables>(op: Operation<R, V>, variables: V | (() => V), handlers: SubscribeHandlers<R>, opts: { role?: string } = {}): Subscription {
    let stopped = false;
    let stop: (() => void) | undefined;
    loadSubscriptions().then(
      (subs) => {
        if (!stopped) stop = subs.subscribe(op, variables, handlers, opts);
      },
      (e: NselfError) => {
        if (!stopped) handlers.error?.(e);
      },
    );
    const unsubscribe = () => {
      stopped = true;
      stop?.();
    };
    return Object.assign(unsubscribe, { unsubscribe });
  }

  return {
    url: o.url,
    tokens,
    request,
    subscribe,
    // Built on subscriptions, so it lives with them and loads with them.
    waitFor: (op, variables, until, opts = {}) => loadSubscriptions().then((subs) => subs.waitFor(op, variables, until, opts)),
    onConnectionChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async close() {
      const subs = subscriptions;
      subscriptions = undefined;
      await subs?.then((x) => x.close(), () => undefined);
    },
  };
}
