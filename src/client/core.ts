/**
 * The framework-free client core: GraphQL over HTTP through a transport (`graphql-request` by default, see
 * client.ts; a plain fetch one in http.ts) and subscriptions through `graphql-ws`, both through Hasura (or
 * `nself-plugins dev`). The token comes from a `TokenProvider`; a refused token is
 * refreshed once and the request sent again, and a subscription whose socket Hasura closed for an expired token
 * resubscribes with a fresh one. Dropped sockets reconnect with backoff and every open subscription is sent
 * again (live queries answer the current state; stream cursors resume from the last row seen).
 *
 * `graphql-ws` is imported on the first subscription, not with the core: a page that only queries and mutates
 * never loads it, and a bundler splits it into its own chunk (the core a page loads stays under 15 kB gzip).
 */
import type { Client as WsClient } from 'graphql-ws';
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { staticToken, type TokenProvider } from './auth.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { NselfError, isAuthError, type GraphQLErrorLike } from './errors.js';
import type { HttpTransport } from './http.js';

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

const toErrors = (e: unknown): GraphQLErrorLike[] | undefined =>
  Array.isArray(e) && e.every((x) => typeof x === 'object' && x !== null && 'message' in x) ? (e as GraphQLErrorLike[]) : undefined;

const isCloseEvent = (e: unknown): e is { code: number; reason: string } =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'reason' in e;

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

  let wsModule: Promise<typeof import('graphql-ws')> | undefined;
  const sockets = new Map<string, Promise<WsClient>>();
  /** One socket per role: Hasura fixes the session when the connection starts. */
  function socket(role: string | undefined): Promise<WsClient> {
    const key = role ?? o.role ?? '';
    let ws = sockets.get(key);
    if (!ws) {
      wsModule ??= import('graphql-ws');
      ws = wsModule.then(({ createClient }) =>
        createClient({
          url: wsUrl,
          lazy: true,
          ...(o.webSocketImpl ? { webSocketImpl: o.webSocketImpl } : {}),
          connectionParams: async () => ({ headers: await headers(role) }),
          // Reconnects are made by each subscription (below), so that a resubscription is sent with fresh variables
          // (a stream's cursor after the last row seen) rather than the first ones graphql-ws would resend.
          retryAttempts: 0,
          on: { connecting: () => emit('connecting'), connected: () => emit('connected'), closed: () => emit('closed') },
        }),
      );
      // A failed load is not kept: the next subscription tries again.
      ws.catch(() => {
        if (sockets.get(key) === ws) sockets.delete(key);
        wsModule = undefined;
      });
      sockets.set(key, ws);
    }
    return ws;
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

  function subscribe<R, V extends Variables>(op: Operation<R, V>, variables: V | (() => V), handlers: SubscribeHandlers<R>, opts: { role?: string } = {}): Subscription {
    let stopped = false;
    let stop: (() => void) | undefined;
    let retries = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const open = (ws: WsClient) => {
      if (stopped) return;
      const vars = typeof variables === 'function' ? (variables as () => V)() : variables;
      stop = ws.subscribe<R>(
        { query: op.toString(), variables: vars },
        {
          next: (r) => {
            retries = 0;
            if (r.errors?.length) return handlers.error?.(NselfError.fromGraphQL(r.errors as GraphQLErrorLike[]));
            if (r.data) handlers.next(r.data as R);
          },
          error: (e) => {
            if (stopped) return;
            const errors = toErrors(e);
            if (errors) return handlers.error?.(NselfError.fromGraphQL(errors));
            // Hasura closes a JWT-authenticated socket with 4400 when the token expires: a new token cures it, at once.
            const auth = isCloseEvent(e) && e.code === 4400 && /JWT/i.test(e.reason);
            if (auth) tokens.invalidate();
            // Other refusals (a bad request, forbidden, unauthorized) will not change by trying again.
            const refused = isCloseEvent(e) && !auth && [4400, 4401, 4403, 4406].includes(e.code);
            if (!refused && retries < (o.reconnect?.attempts ?? Infinity)) {
              timer = setTimeout(start, auth && retries === 0 ? 0 : backoffDelay(retries, o.reconnect));
              retries++;
              return;
            }
            handlers.error?.(
              isCloseEvent(e)
                ? new NselfError(e.reason || `connection closed (${e.code})`, refused ? 'connection-refused' : 'connection-closed', { closeCode: e.code })
                : new NselfError(String((e as Error)?.message ?? e), 'network'),
            );
          },
          complete: () => undefined,
        },
      );
    };
    const start = () => {
      if (stopped) return;
      socket(opts.role).then(open, (e: unknown) => {
        if (!stopped) handlers.error?.(new NselfError(`could not load the subscription transport: ${String((e as Error)?.message ?? e)}`, 'network'));
      });
    };
    start();
    const unsubscribe = () => {
      stopped = true;
      clearTimeout(timer);
      stop?.();
    };
    return Object.assign(unsubscribe, { unsubscribe });
  }

  return {
    url: o.url,
    tokens,
    request,
    subscribe,
    waitFor(op, variables, until, opts = {}) {
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          sub();
          reject(new NselfError('the operation was cancelled', 'aborted'));
        };
        const sub = subscribe(
          op,
          variables,
          {
            next: (d) => {
              if (!until(d)) return;
              sub();
              opts.signal?.removeEventListener('abort', onAbort);
              resolve(d);
            },
            error: (e) => {
              sub();
              reject(e);
            },
          },
          opts.role !== undefined ? { role: opts.role } : {},
        );
        if (opts.signal?.aborted) onAbort();
        else opts.signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    onConnectionChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async close() {
      await Promise.all([...sockets.values()].map((s) => s.then((ws) => ws.dispose(), () => undefined)));
      sockets.clear();
    },
  };
}
