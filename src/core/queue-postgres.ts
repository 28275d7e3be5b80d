/**
 * The PostgreSQL queue backend's shared resources for one provider (see `createQueueProvider`): one bounded
 * pool for every query of every Queue, Worker and QueueEvents, passed through a gate that keeps polling on
 * one connection; one LISTEN connection carrying every subscription; BullMQ's backend built on both.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  PostgresConnection,
  PostgresQueueBackend,
  runMigrations as runQueueMigrations,
  type BackendFactory,
  type PgPool,
  type PostgresConnectionOptions,
} from 'bullmq';
import pg from 'pg';
import type { Logger } from 'pino';

/** `application_name` of the provider's pooled connections. */
export const QUEUE_APPLICATION_NAME = 'nself-plugins:queue';
/** `application_name` of the provider's one LISTEN connection. */
export const QUEUE_LISTEN_APPLICATION_NAME = 'nself-plugins:queue-listen';
/** The table where the names BullMQ gives its LISTEN connections are kept (see ListenHub). */
const LISTENER_TABLE = 'nself_listener';

/**
 * One provider's PostgreSQL resources. Left to itself, BullMQ gives every Queue, Worker and QueueEvents a
 * `pg.Pool` of its own (up to 10 connections each), and every Worker and QueueEvents a LISTEN connection
 * more, so an idle replica with a handful of queues held about ten connections and a few replicas exhausted
 * a stock `max_connections`. Here every object runs its queries through one bounded pool that closes idle
 * connections, and all of them LISTEN through one connection (see ListenHub).
 */
export class SharedPostgres {
  readonly pool: pg.Pool;
  readonly listeners: ListenHub;
  private migration: Promise<void> | undefined;
  /** Every query BullMQ runs goes through here (see DemandGate). */
  readonly gate: DemandGate;
  private closed: Promise<void> | undefined;

  constructor(
    databaseUrl: string,
    readonly schema: string,
    poolMax: number,
    private readonly log: Logger | undefined,
  ) {
    // Settings of every connection, pooled or LISTEN: BullMQ's SQL names its tables unqualified.
    const config = clientConfig(databaseUrl, schema);
    this.pool = new pg.Pool({ ...config, max: poolMax, idleTimeoutMillis: POOL_IDLE_MS });
    this.gate = new DemandGate(poolMax);
    // An idle pooled connection that drops emits here; without a listener it would crash the process.
    this.pool.on('error', (err) => this.log?.warn({ err }, 'queue database pool error'));
    this.listeners = new ListenHub({ ...config, application_name: QUEUE_LISTEN_APPLICATION_NAME }, () => this.migrated(), log);
  }

  /**
   * BullMQ's schema, brought up to date once per provider (BullMQ would otherwise migrate once per
   * object), with the listener table of ours beside it. Its advisory lock keeps N replicas starting at
   * once safe. A failure is retried on next use.
   */
  migrated(): Promise<void> {
    this.migration ??= (async () => {
      const client = await this.pool.connect();
      try {
        await runQueueMigrations(client, this.schema);
        await client.query('BEGIN');
        // The same lock for every replica: CREATE TABLE IF NOT EXISTS alone races with itself.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('nself-plugins:queue-listener-table'))");
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${LISTENER_TABLE} (id uuid PRIMARY KEY, pid integer NOT NULL, backend_start timestamptz NOT NULL, name text NOT NULL)`,
        );
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    })().catch((e: unknown) => {
      this.migration = undefined;
      throw e;
    });
    return this.migration;
  }

  /** Called once, after every Queue, Worker and QueueEvents is closed: BullMQ never ends a pool it was given. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.listeners.close();
      await this.pool.end();
    })();
    return this.closed;
  }
}

/**
 * How long a pooled connection may sit idle before it is closed. Short: an idle replica only polls now and
 * then, and should hold no pooled connection in between; under load the pool stays busy.
 */
const POOL_IDLE_MS = 2_000;
/** How long queries wait for a busy connection before one more may be opened. */
const GROW_AFTER_MS = 20;
/** Queries finished in the last second or two from which on the load counts as work, not as polling. */
const BUSY_QUERIES = 50;
/** How long without any query waiting before one connection fewer may be used. */
const SHRINK_AFTER_MS = 1_000;

/**
 * How many queries may run on the shared pool at once. pg.Pool opens a connection for every query that
 * finds none idle, so the few queries an idle replica makes at one moment (its workers wake to poll and
 * sweep for stalled jobs, all at once when started together) each opened a connection, kept alive by the
 * next round. Here they take turns on one connection. Under work (more than `BUSY_QUERIES` a second or
 * so), one more connection may be used each time queries have waited `GROW_AFTER_MS`, up to the pool's
 * size; after `SHRINK_AFTER_MS` in which none waited, one fewer. Unused connections close after the pool's
 * idle timeout.
 */
class DemandGate {
  private limit = 1;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private grow: NodeJS.Timeout | undefined;
  private lastWait = 0;
  /** Queries finished in the current second and in the one before. */
  private finished = { since: Date.now(), now: 0, before: 0 };

  constructor(private readonly max: number) {}

  async run<T>(query: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else {
      this.lastWait = Date.now();
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.armGrow();
      });
    }
    try {
      return await query();
    } finally {
      this.release();
    }
  }

  /** The slot goes straight to the next waiter, so no newcomer can slip past the limit. */
  private release(): void {
    const now = Date.now();
    const f = this.finished;
    if (now - f.since >= 1000) {
      f.before = now - f.since >= 2000 ? 0 : f.now;
      f.now = 0;
      f.since = now;
    }
    f.now++;
    const next = this.waiting.shift();
    if (next) return next();
    this.running--;
    if (this.limit > 1 && now - this.lastWait > SHRINK_AFTER_MS) {
      this.limit--;
      this.lastWait = now;
    }
  }

  private armGrow(): void {
    if (this.grow || this.limit >= this.max) return;
    this.grow = setTimeout(() => {
      this.grow = undefined;
      if (!this.waiting.length) return;
      if (this.finished.now + this.finished.before >= BUSY_QUERIES) {
        this.limit++;
        this.running++;
        this.waiting.shift()!();
      }
      if (this.waiting.length) this.armGrow();
    }, GROW_AFTER_MS);
    // A waiting query keeps the process alive through the one it waits for; the timer alone must not.
    this.grow.unref();
  }
}

/** Idle time before TCP keepalive probes the LISTEN connection, so a silent drop is noticed in seconds (as BullMQ does). */
const LISTEN_KEEPALIVE_MS = 10_000;

function clientConfig(databaseUrl: string, schema: string): pg.ClientConfig {
  const searchPath = `-c search_path="${schema}"`;
  // node-postgres lets parameters in the URL override the config object, so `options` given in the URL
  // would silently drop the search_path: merge them here instead.
  const url = new URL(databaseUrl);
  const given = url.searchParams.get('options');
  if (given !== null) url.searchParams.delete('options');
  return {
    connectionString: given === null ? databaseUrl : url.toString(),
    options: given ? `${given} ${searchPath}` : searchPath,
    // A name set in the URL or PGAPPNAME still wins.
    fallback_application_name: QUEUE_APPLICATION_NAME,
  };
}

/**
 * One LISTEN connection for every Worker and QueueEvents of a provider. BullMQ's PostgreSQL backend
 * listens on two channels shared by all queues (`bullmq_jobs`, `bullmq_events`, the queue's name as
 * payload) and filters by payload, so one connection can carry every object's subscription: each object
 * gets a stand-in client that records its LISTENs and receives the notifications of its channels.
 *
 * BullMQ also names each object's LISTEN connection (`application_name`) so that `getWorkers()` finds
 * workers across processes in `pg_stat_activity`. One connection cannot carry many names, so the names are
 * kept in a table, keyed by the LISTEN connection's backend (pid and start time): rows of a connection that
 * is gone no longer match and are swept at the next connect. `getClientList` reads them back.
 *
 * When the connection drops, every stand-in reports the error, as a dedicated connection would: BullMQ then
 * asks for a new client and LISTENs again, and the first such request opens a new connection.
 */
class ListenHub {
  private conn: Promise<pg.Client> | undefined;
  private readonly clients = new Set<StandInListenClient>();
  /** Channels of `subscribe`, listened to again on every new connection (BullMQ does that for its own). */
  private readonly subscribers = new Map<string, Set<(payload: string) => void>>();
  private retry: NodeJS.Timeout | undefined;
  private closing = false;
  /** Statements on the connection, one at a time (node-postgres deprecates overlapping ones). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly ready: () => Promise<void>,
    private readonly log: Logger | undefined,
  ) {}

  async attach(): Promise<StandInListenClient> {
    if (this.closing) throw new Error('queue provider is closed');
    await this.connection();
    const client = new StandInListenClient(this);
    this.clients.add(client);
    return client;
  }

  /** The LISTEN connection, opened on first use and again after a drop. */
  connection(): Promise<pg.Client> {
    this.conn ??= this.open().catch((e: unknown) => {
      this.conn = undefined;
      throw e;
    });
    return this.conn;
  }

  private async open(): Promise<pg.Client> {
    await this.ready();
    const client = new pg.Client({ ...this.config, keepAlive: true, keepAliveInitialDelayMillis: LISTEN_KEEPALIVE_MS });
    try {
      await client.connect();
      // Names of LISTEN connections that have ended.
      await client.query(
        `DELETE FROM ${LISTENER_TABLE} l WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start)`,
      );
    } catch (e) {
      // A failed connect may leave a half-open socket behind.
      void client.end().catch(() => undefined);
      throw e;
    }
    for (const channel of this.subscribers.keys()) await client.query(`LISTEN ${channel}`);
    client.on('notification', (msg) => {
      for (const c of this.clients) c.deliver(msg);
      for (const fn of this.subscribers.get(msg.channel) ?? []) fn(msg.payload ?? '');
    });
    const dropped = (err: Error) => {
      if (this.closing) return;
      void this.conn?.then((current) => {
        if (current !== client) return;
        this.conn = undefined;
        this.log?.warn({ err }, 'queue LISTEN connection lost; listening again on a new one');
        void client.end().catch(() => undefined);
        // As a dedicated connection would: BullMQ drops the client and asks for a new one.
        for (const c of [...this.clients]) c.fail(err);
        this.resubscribe();
      });
    };
    client.on('error', dropped);
    client.on('end', () => dropped(new Error('queue LISTEN connection ended')));
    return client;
  }

  /** Listens on `channel` for a caller of our own until the returned function is called. */
  async subscribe(channel: string, onPayload: (payload: string) => void): Promise<() => void> {
    if (this.closing) throw new Error('queue provider is closed');
    let fns = this.subscribers.get(channel);
    if (!fns) this.subscribers.set(channel, (fns = new Set()));
    fns.add(onPayload);
    try {
      await this.listen(channel);
    } catch (e) {
      fns.delete(onPayload);
      throw e;
    }
    return () => {
      fns.delete(onPayload);
      // The LISTEN itself stays: harmless, and gone with the connection.
    };
  }

  /** After a drop, our own subscribers have no BullMQ to ask for a new connection: open one for them. */
  private resubscribe(): void {
    if (this.closing || this.retry || ![...this.subscribers.values()].some((s) => s.size)) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connection().catch((err: unknown) => {
        this.log?.warn({ err }, 'queue LISTEN connection could not be opened again; retrying');
        this.resubscribe();
      });
    }, 1000);
    this.retry.unref();
  }

  private exec(text: string, params?: unknown[]): Promise<unknown> {
    const run = this.chain.then(async () => (await this.connection()).query(text, params));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async listen(channel: string): Promise<void> {
    // Channels are identifiers here, never quoted: only names that need no quoting.
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`unexpected LISTEN channel ${channel}`);
    // LISTEN on a connection that already listens is a no-op, so nothing needs tracking here.
    await this.exec(`LISTEN ${channel}`);
  }

  async register(id: string, name: string): Promise<void> {
    await this.exec(
      `INSERT INTO ${LISTENER_TABLE} (id, pid, backend_start, name)
         SELECT $1, pid, backend_start, $2 FROM pg_stat_activity WHERE pid = pg_backend_pid()
       ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, backend_start = excluded.backend_start, name = excluded.name`,
      [id, name],
    );
  }

  detach(client: StandInListenClient): void {
    this.clients.delete(client);
    // After a drop there is nothing to remove: the row no longer matches a live connection.
    if (!client.named || this.closing || !this.conn) return;
    this.exec(`DELETE FROM ${LISTENER_TABLE} WHERE id = $1`, [client.id]).catch((err: unknown) =>
      this.log?.warn({ err }, 'could not remove a queue listener name'),
    );
  }

  /** The names of every live LISTEN connection's objects, across processes (BullMQ's CLIENT LIST). */
  static listNames(pool: pg.Pool): Promise<string[]> {
    return pool
      .query<{ name: string }>(
        `SELECT l.name FROM ${LISTENER_TABLE} l JOIN pg_stat_activity a ON a.pid = l.pid AND a.backend_start = l.backend_start`,
      )
      .then((r) => r.rows.map((row) => row.name));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) clearTimeout(this.retry);
    this.clients.clear();
    this.subscribers.clear();
    await this.chain;
    const conn = await this.conn?.catch(() => undefined);
    this.conn = undefined;
    if (!conn) return;
    // Its rows go with it: the name table is keyed by this connection's backend.
    await conn.query(`DELETE FROM ${LISTENER_TABLE} WHERE pid = pg_backend_pid()`).catch(() => undefined);
    await conn.end().catch(() => undefined);
  }
}

/** What one BullMQ object sees as its LISTEN client: the statements BullMQ sends it, carried by the hub. */
class StandInListenClient extends EventEmitter {
  readonly id = randomUUID();
  named = false;
  private readonly channels = new Set<string>();
  private released = false;

  constructor(private readonly hub: ListenHub) {
    super();
  }

  /** BullMQ sends `LISTEN <channel>` (after a comment) and `SELECT set_config('application_name', $1, false)`. */
  async query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> {
    const listen = /^\s*LISTEN\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$/im.exec(text.replace(/--[^\n]*/g, ''));
    if (listen) {
      const channel = listen[1]!.toLowerCase();
      await this.hub.listen(channel);
      this.channels.add(channel);
      return { rows: [] };
    }
    if (/set_config\(\s*'application_name'/.test(text) && typeof params?.[0] === 'string') {
      await this.hub.register(this.id, params[0]);
      this.named = true;
      return { rows: [{ set_config: params[0] }] };
    }
    throw new Error('the shared queue LISTEN connection only takes LISTEN and the connection name');
  }

  deliver(msg: pg.Notification): void {
    if (this.channels.has(msg.channel)) this.emit('notification', msg);
  }

  fail(err: Error): void {
    // Without a listener EventEmitter would throw; BullMQ listens until it releases the client.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.release();
  }

  /** BullMQ gives the client back when its object closes or after the connection failed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.removeAllListeners('notification');
    this.hub.detach(this);
  }
}

/** The channel BullMQ's adds notify, with the queue's name as payload (read from BullMQ, where it is private). */
const JOBS_CHANNEL = (PostgresQueueBackend as unknown as { NOTIFY_CHANNEL: string }).NOTIFY_CHANNEL;

/**
 * How often, in seconds, an idle worker on PostgreSQL looks for work it was not told about (BullMQ's
 * `drainDelay`, 5 s by default): every look is four queries, and an idle replica with a worker per queue
 * looking every 5 s kept several pooled connections busy. Work is announced by NOTIFY (adds, and the
 * operations PooledPostgresBackend announces), so this is only the fallback. Each worker gets its own value
 * around it, so workers started together do not keep looking at the same moment.
 */
const PG_DRAIN_DELAY_SECONDS = 30;
export const pgDrainDelay = () => Math.round(PG_DRAIN_DELAY_SECONDS * (0.75 + Math.random() / 2));

/**
 * BullMQ's PostgreSQL backend on the provider's shared resources. Worker discovery reads the listener names
 * (ListenHub). And the operations that make a job claimable without BullMQ announcing it (promoting, resuming,
 * shortening a delay, recovering stalled jobs, lifting a rate limit) announce it here, on the channel adds use:
 * otherwise a waiting worker only finds the job at its next poll, and workers here poll rarely (see
 * PG_DRAIN_DELAY_SECONDS).
 */
class PooledPostgresBackend extends PostgresQueueBackend {
  constructor(
    private readonly shared: SharedPostgres,
    private readonly name: string,
    opts: PostgresConnectionOptions & Record<string, unknown>,
    listenClientName: string | undefined,
  ) {
    super(new SharedPoolConnection(shared), name, opts as never, true, listenClientName);
  }

  private async announce<T>(done: T): Promise<T> {
    await this.shared.gate.run(() => this.shared.pool.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, this.name]));
    return done;
  }

  override async promote(jobId: string): Promise<void> {
    return this.announce(await super.promote(jobId));
  }
  override async promoteJobs(count?: number): Promise<number> {
    return this.announce(await super.promoteJobs(count));
  }
  override async pause(pause: boolean): Promise<void> {
    await super.pause(pause);
    if (!pause) await this.announce(undefined);
  }
  override async changeDelay(jobId: string, delay: number): Promise<void> {
    return this.announce(await super.changeDelay(jobId, delay));
  }
  override async moveStalledJobsToWait(): Promise<string[]> {
    const ids = await super.moveStalledJobsToWait();
    return ids.length ? this.announce(ids) : ids;
  }
  override async removeRateLimitKey(): Promise<number> {
    return this.announce(await super.removeRateLimitKey());
  }

  override async getClientList(): Promise<string[]> {
    // As BullMQ's own list (every named session of the database), plus the names the hub carries.
    const [own, shared] = await Promise.all([super.getClientList(), ListenHub.listNames(this.shared.pool)]);
    return [[own[0], ...shared.map((n) => `name=${n}`)].filter(Boolean).join('\n')];
  }
}

/**
 * A BullMQ connection whose queries go to the provider's shared pool and whose LISTEN client is a stand-in
 * on the provider's one LISTEN connection. BullMQ's own handling of the LISTEN client (naming it for
 * getWorkers(), asking for a new one after a drop, giving it back on close) is kept.
 */
class SharedPoolConnection extends PostgresConnection {
  // BullMQ records the schema only for pools it builds itself.
  override readonly schema: string;
  private readiness: Promise<void> | undefined;

  constructor(private readonly shared: SharedPostgres) {
    super(poolView(shared));
    this.schema = shared.schema;
  }

  /** Readiness is the shared migration, run once per provider, instead of one schema check per object. */
  override waitUntilReady(): Promise<void> {
    this.readiness ??= this.shared.migrated().then(
      () => {
        // As BullMQ does: deferred, so listeners attached right after construction still hear it.
        setTimeout(() => this.emit('ready'), 0);
      },
      (e: unknown) => {
        this.readiness = undefined;
        throw e;
      },
    );
    return this.readiness;
  }
}

/**
 * What one BullMQ object sees as its `pg.Pool`. BullMQ ends only pools it built, so `end` is never
 * called; `connect` is only reached for the LISTEN client, as readiness never checks a client out.
 */
function poolView(shared: SharedPostgres): PgPool {
  const events = new EventEmitter();
  const view = {
    // BullMQ reads this to decide how long a worker may block on LISTEN; the hub's connection keeps alive.
    options: { keepAlive: true },
    query: (text: string, params?: readonly unknown[]) => shared.gate.run(() => shared.pool.query(text, params as unknown[] | undefined)),
    connect: () => shared.listeners.attach(),
    end: async () => undefined,
    on(event: string, listener: (...args: any[]) => void) {
      events.on(event, listener);
      return view;
    },
    removeAllListeners(event?: string) {
      events.removeAllListeners(event);
      return view;
    },
  };
  return view as unknown as PgPool;
}

/** createPostgresBackend, with every backend built on the provider's shared resources. */
export function sharedPoolBackendFactory(shared: SharedPostgres): BackendFactory<PostgresQueueBackend, PostgresConnectionOptions> {
  return (name, opts, factoryOpts = {}) => {
    // The names BullMQ gives the LISTEN connection, which getWorkers()/getQueueEvents() look for
    // (see createPostgresBackend).
    const workerName = (opts as { name?: string }).name;
    let listenClientName: string | undefined;
    if (factoryOpts.withBlockingConnection) listenClientName = workerName ? `${name}:w:${workerName}` : name;
    else if (factoryOpts.blocking) listenClientName = `${name}:qe`;
    return new PooledPostgresBackend(shared, name, opts as never, listenClientName);
  };
}
