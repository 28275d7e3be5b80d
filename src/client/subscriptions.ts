/**
 * Subscriptions over `graphql-ws`, loaded by the client core on the first subscription (core.ts imports this
 * module dynamically, so a bundler ships it and graphql-ws as a chunk of their own). A refused token is
 * replaced and the subscription sent again; a dropped socket reconnects with backoff and every open subscription
 * is sent again with fresh variables.
 */
import { createClient, type Client as WsClient } from 'graphql-ws/client';
import type { TokenProvider } from './auth.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { NselfError, type GraphQLErrorLike } from './errors.js';
import type { Operation, SubscribeHandlers, Variables } from './core.js';

export interface SubscriptionsOptions {
  wsUrl: string;
  tokens: TokenProvider;
  /** The request headers for a role (the token, the role, the client's own headers). */
  headers(role: string | undefined): Promise<Record<string, string>>;
  emit(state: 'connecting' | 'connected' | 'closed'): void;
  role?: string;
  webSocketImpl?: unknown;
  reconnect?: BackoffOptions & { attempts?: number };
}

export interface Subscriptions {
  subscribe<R, V extends Variables>(op: Operation<R, V>, variables: V | (() => V), handlers: SubscribeHandlers<R>, opts?: { role?: string }): () => void;
  waitFor<R, V extends Variables>(op: Operation<R, V>, variables: V, until: (data: R) => boolean, opts?: { signal?: AbortSignal; role?: string }): Promise<R>;
  close(): Promise<void>;
}

const toErrors = (e: unknown): GraphQLErrorLike[] | undefined =>
  Array.isArray(e) && e.every((x) => typeof x === 'object' && x !== null && 'message' in x) ? (e as GraphQLErrorLike[]) : undefined;

const isCloseEvent = (e: unknown): e is { code: number; reason: string } =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'reason' in e;

export function createSubscriptions(o: SubscriptionsOptions): Subscriptions {
  const { tokens } = o;
  const sockets = new Map<string, WsClient>();
  /** One socket per role: Hasura fixes the session when the connection starts. */
  function socket(role: string | undefined): WsClient {
    const key = role ?? o.role ?? '';
    let ws = sockets.get(key);
    if (!ws) {
      ws = createClient({
        url: o.wsUrl,
        lazy: true,
        ...(o.webSocketImpl ? { webSocketImpl: o.webSocketImpl } : {}),
        connectionParams: async () => ({ headers: await o.headers(role) }),
        // Reconnects are made by each subscription (below), so that a resubscription is sent with fresh variables
        // (a stream's cursor after the last row seen) rather than the first ones graphql-ws would resend.
        retryAttempts: 0,
        on: { connecting: () => o.emit('connecting'), connected: () => o.emit('connected'), closed: () => o.emit('closed') },
      });
      sockets.set(key, ws);
    }
    return ws;
  }

  function subscribe<R, V extends Variables>(op: Operation<R, V>, variables: V | (() => V), handlers: SubscribeHandlers<R>, opts: { role?: string } = {}): () => void {
    let stopped = false;
    let stop: (() => void) | undefined;
    let retries = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const start = () => {
      if (stopped) return;
      const vars = typeof variables === 'function' ? (variables as () => V)() : variables;
      stop = socket(opts.role).subscribe<R>(
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
    start();
    return () => {
      stopped = true;
      clearTimeout(timer);
      stop?.();
    };
  }

  return {
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
    async close() {
      await Promise.all([...sockets.values()].map((s) => s.dispose()));
      sockets.clear();
    },
  };
}
