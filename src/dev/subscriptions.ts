/**
 * Subscriptions over `graphql-ws` (the `graphql-transport-ws` protocol Hasura speaks). Live queries follow
 * Hasura's multiplexer idea: subscribers of the same (query, variables, session) share one poller that refetches
 * on an interval and sends a result only when it changed. `<t>_stream` fields keep a cursor per subscriber and
 * send each new batch after it.
 */
import type { IncomingMessage } from 'node:http';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { WebSocketServer, WebSocket } from 'ws';
import { sortedJson } from '../testing/json.js';
import { roleOf, type SessionVariables } from '../testing/session.js';
import { AuthError, type Authenticator } from './auth.js';
import { SqlCompiler, objectTypeOf } from './compile.js';
import { GraphQLFailure, rawResultBody, toGraphQLError, type Executor, type GraphQLErrorJson, type Prepared } from './execute.js';

type Result = ExecutionResult<Record<string, unknown>>;

/** A pushable async iterator: `return()` (the client's `complete`) ends it at once, even while waiting. */
class Channel implements AsyncIterableIterator<Result> {
  private readonly queue: Result[] = [];
  private waiting: ((r: IteratorResult<Result>) => void) | undefined;
  private done = false;

  constructor(private readonly onClose: () => void) {}

  push(r: Result): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: r, done: false });
    } else this.queue.push(r);
  }

  /** Sends `r` (if any) and completes the subscription. */
  end(r?: Result): void {
    if (r) this.push(r);
    if (this.done) return;
    this.done = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: undefined, done: true });
    }
    this.onClose();
  }

  next(): Promise<IteratorResult<Result>> {
    const r = this.queue.shift();
    if (r) return Promise.resolve({ value: r, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<Result>> {
    this.queue.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<IteratorResult<Result>> {
    return this.return();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Result> {
    return this;
  }
}

interface Group {
  key: string;
  prepared: Prepared;
  sinks: Set<Channel>;
  last: string | undefined;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

export interface SubscriptionOptions {
  /** Live-query refetch interval (Hasura's `HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL`, default 1000 ms). */
  refetchIntervalMs?: number;
  /** Stream poll interval (`HASURA_GRAPHQL_STREAMING_QUERIES_MULTIPLEXED_REFETCH_INTERVAL`, default 1000 ms). */
  streamIntervalMs?: number;
}

function parseBody(body: string): Result {
  return JSON.parse(body) as Result;
}

export class Subscriptions {
  private readonly groups = new Map<string, Group>();
  private readonly streams = new Set<{ stop(): void }>();
  readonly refetchIntervalMs: number;
  readonly streamIntervalMs: number;
  /** Refetches run (for tests and benchmarks). */
  refetches = 0;

  constructor(
    private readonly executor: Executor,
    opts: SubscriptionOptions = {},
  ) {
    this.refetchIntervalMs = opts.refetchIntervalMs ?? 1000;
    this.streamIntervalMs = opts.streamIntervalMs ?? 1000;
  }

  /** Number of live-query pollers (distinct query, variables and session). */
  get pollers(): number {
    return this.groups.size;
  }

  get subscribers(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.sinks.size;
    return n + this.streams.size;
  }

  live(p: Prepared): Channel {
    const key = sortedJson([p.query, p.op.name?.value ?? null, p.rawVariables, p.session]);
    let g = this.groups.get(key);
    const channel = new Channel(() => {
      const group = this.groups.get(key);
      if (!group) return;
      group.sinks.delete(channel);
      if (group.sinks.size === 0) {
        group.stopped = true;
        clearTimeout(group.timer);
        this.groups.delete(key);
      }
    });
    if (!g) {
      g = { key, prepared: p, sinks: new Set(), last: undefined, timer: undefined, stopped: false };
      this.groups.set(key, g);
      g.sinks.add(channel);
      void this.poll(g);
    } else {
      g.sinks.add(channel);
      if (g.last !== undefined) channel.push(parseBody(g.last));
    }
    return channel;
  }

  private async poll(g: Group): Promise<void> {
    if (g.stopped) return;
    this.refetches++;
    const r = await this.executor.run(g.prepared);
    if (g.stopped) return;
    const body = rawResultBody(r);
    if ('errors' in r) {
      // graphql-ws serializes GraphQLError objects (toJSON), not the plain JSON the executor returns.
      for (const s of [...g.sinks]) s.end({ errors: graphQLErrors(r.errors as GraphQLErrorJson[]) as never });
      return;
    }
    if (body !== g.last) {
      g.last = body;
      const result = parseBody(body);
      for (const s of g.sinks) s.push(result);
    }
    g.timer = setTimeout(() => void this.poll(g), this.refetchIntervalMs);
  }

  stream(p: Prepared): Channel {
    let cursor: unknown = undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const handle = { stop: () => ((stopped = true), clearTimeout(timer)) };
    const channel = new Channel(() => {
      handle.stop();
      this.streams.delete(handle);
    });
    this.streams.add(handle);
    const [key, nodes] = [...p.fields.entries()][0]!;
    const name = nodes[0]!.name.value;
    const root = p.roots.get(name) as { kind: 'select_stream'; table: import('./model.js').TableModel };
    const tick = async () => {
      if (stopped) return;
      try {
        const c = new SqlCompiler(this.executor.harness.engines.permissions, p.session, p.vars, p.fragments);
        const def = p.rootType.getFields()[name]!;
        const s = await c.stream(root.table, objectTypeOf(def), c.args(def, nodes[0]!), nodes, cursor);
        const r = await this.executor.harness.pool.query<{ root: string; cursor: string | null }>(s.sql, c.params);
        if (stopped) return;
        const row = r.rows[0]!;
        if (row.cursor !== null) {
          cursor = row.cursor;
          channel.push({ data: { [key]: JSON.parse(row.root) } });
        }
      } catch (e) {
        channel.end({ errors: graphQLErrors([toGraphQLError(e, roleOf(p.session))]) as never });
        return;
      }
      timer = setTimeout(() => void tick(), this.streamIntervalMs);
    };
    void tick();
    return channel;
  }

  close(): void {
    for (const g of this.groups.values()) {
      g.stopped = true;
      clearTimeout(g.timer);
      for (const s of [...g.sinks]) s.end();
    }
    this.groups.clear();
    for (const s of [...this.streams]) s.stop();
    this.streams.clear();
  }
}

interface Extra {
  [key: PropertyKey]: unknown;
  socket: WebSocket;
  request: IncomingMessage;
  session?: SessionVariables;
  headers?: Record<string, string>;
}

/** The headers a client sends in `connection_init`: `{headers: {...}}` as Hasura's clients do, or top-level keys. */
function initHeaders(params: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const take = (o: unknown) => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) if (typeof v === 'string') out[k.toLowerCase()] = v;
  };
  take(params);
  take(params?.headers);
  return out;
}

function graphQLErrors(errors: GraphQLErrorJson[]): GraphQLError[] {
  return errors.map((e) => new GraphQLError(e.message, { extensions: e.extensions }));
}

/** Serves `graphql-transport-ws` on `wss` with the endpoint's executor and authentication. */
export function serveSubscriptions(wss: WebSocketServer, executor: Executor, auth: Authenticator, subs: Subscriptions): { dispose(): void | Promise<void> } {
  const server = useServer<Record<string, unknown>, Extra>(
    {
      onConnect: async (ctx) => {
        const headers = initHeaders(ctx.connectionParams);
        try {
          const { session, expiresAt } = await auth.authenticateWithExpiry(headers);
          ctx.extra.session = session;
          ctx.extra.headers = headers;
          if (expiresAt) {
            // Hasura ends a websocket whose JWT expires; the client reconnects with a fresh token.
            const socket = ctx.extra.socket;
            const timer = setTimeout(() => socket.close(4400, 'Could not verify JWT: JWTExpired'), Math.max(0, expiresAt.getTime() - Date.now()));
            timer.unref();
            socket.once('close', () => clearTimeout(timer));
          }
          return true;
        } catch (e) {
          const message = e instanceof AuthError ? e.message : 'authentication failed';
          // Hasura closes the socket with 4400 and the reason when connection_init is refused.
          ctx.extra.socket.close(4400, message.slice(0, 120));
          return false;
        }
      },
      onSubscribe: (ctx, _id, payload) => {
        const session = ctx.extra.session!;
        const p = executor.prepare({ query: payload.query, variables: payload.variables ?? null, operationName: payload.operationName ?? null }, session, true);
        if (p instanceof GraphQLFailure) return graphQLErrors(p.errors);
        if (p.op.operation === 'subscription') {
          const kinds = [...p.fields.values()].map((n) => p.roots.get(n[0]!.name.value)?.kind);
          if (kinds.includes('select_stream') && p.fields.size !== 1) return graphQLErrors([{ message: 'streaming subscriptions must have exactly one root field', extensions: { path: '$', code: 'validation-failed' } }]);
        }
        const args: ExecutionArgs = { schema: p.rs.schema, document: p.doc, variableValues: p.rawVariables, contextValue: { prepared: p, headers: ctx.extra.headers } };
        if (p.op.name) args.operationName = p.op.name.value;
        return args;
      },
      execute: async (args) => {
        const { prepared, headers } = args.contextValue as { prepared: Prepared; headers: Record<string, string> };
        return parseBody(rawResultBody(await executor.run(prepared, headers)));
      },
      subscribe: (args) => {
        const { prepared } = args.contextValue as { prepared: Prepared };
        const first = [...prepared.fields.values()][0]![0]!.name.value;
        return prepared.roots.get(first)?.kind === 'select_stream' ? subs.stream(prepared) : subs.live(prepared);
      },
    },
    wss,
  );
  return server;
}
