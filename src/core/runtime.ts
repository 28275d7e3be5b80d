/**
 * Boot: settings → plugins → database (external or embedded) → migrations → pools and queue → handler
 * contexts. Everything that can be checked without a database (settings, plugin graph, SDL against
 * manifests) is checked first, so a misconfiguration fails in milliseconds with every problem listed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import type { PoolClient } from 'pg';
import { createInputValidators, readActionsSdl, type InputValidator, type SdlSource } from './action-input.js';
import { loadConfig, redactConfig } from './config.js';
import { createDb, type ClosableDb } from './db.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics, type QueueDepth } from './metrics.js';
import { runOnce, type ReceiptScope } from './once.js';
import type { CoreConfig, HandlerContext, PluginManifest, PluginRuntime, ServiceToken, Session } from './plugin.js';
import { activeFeatures } from './features.js';
import { ServiceRegistry } from './services.js';
import type { QueueProvider } from './queue-types.js';
import { handlerTables, type HandlerTables } from './registry.js';
import type { Runtime } from './runtime-types.js';

export interface RuntimeOptions {
  /** The plugin catalogue `PLUGINS_ENABLED` selects from (default: every finished plugin). */
  plugins?: readonly PluginManifest[];
  /** Use this logger instead of creating one from LOG_LEVEL. */
  log?: Logger;
  /** Where the created logger writes (default stdout). */
  logDestination?: DestinationStream;
  /** Apply `hasura/migrations` at boot (default true). */
  migrate?: boolean;
  /** A queue provider to use instead of creating one (closed by `close()` all the same). */
  queue?: QueueProvider;
  /** Where actions SDL is read from (default `actions/<plugin>/actions.graphql`). */
  actionsSdl?: SdlSource;
  /** Process metrics in /metrics (default true). */
  defaultMetrics?: boolean;
}

export interface ContextOptions {
  session: Session | null;
  requestId: string;
  log?: Logger;
  /** Namespace of `ctx.once` receipts; default `{kind:'event', handler:<plugin>}`. */
  receipt?: ReceiptScope;
  /** Extra bindings of the lazily created child logger (event id, handler name). */
  bindings?: Record<string, unknown>;
  /** For actions: makes the context an `ActionContext`. */
  action?: { name: string; requestQuery: string | null };
}

/** What the server needs beyond the public `Runtime`. */
export interface ServerRuntime extends Runtime {
  readonly handlers: HandlerTables;
  readonly inputValidators: ReadonlyMap<string, InputValidator>;
  readonly metrics: Metrics;
  /** The secret Hasura must send in `x-nself-plugins-secret` (configured or generated). */
  readonly webhookSecret: string;
  readonly dataDir: string;
  readonly databaseUrl: string;
  contextFor(plugin: string, opts: ContextOptions): HandlerContext;
  pluginRuntime(plugin: string): PluginRuntime;
}

const SECRET_FILE = 'webhook-secret';

/**
 * The configured secret, else the one kept in DATA_DIR, else a new one written there (mode 0600). Created
 * with O_EXCL so replicas sharing DATA_DIR and starting together agree on one value.
 */
async function resolveWebhookSecret(core: CoreConfig, dataDir: string, log: Logger): Promise<string> {
  if (core.NSELF_PLUGINS_WEBHOOK_SECRET) return core.NSELF_PLUGINS_WEBHOOK_SECRET;
  const path = join(dataDir, SECRET_FILE);
  const readExisting = async () => {
    const s = (await readFile(path, 'utf8')).trim();
    if (s.length < 16) throw new Error(`${path} holds a secret shorter than 16 characters; delete it or set NSELF_PLUGINS_WEBHOOK_SECRET`);
    return s;
  };
  try {
    const s = await readExisting();
    log.info({ path }, 'NSELF_PLUGINS_WEBHOOK_SECRET not set: using the secret kept in %s', path);
    return s;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const generated = randomBytes(32).toString('base64url');
  try {
    await writeFile(path, generated + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readExisting();
    throw e;
  }
  log.warn(
    { path },
    'NSELF_PLUGINS_WEBHOOK_SECRET not set: generated one in %s. Give Hasura the same value (NSELF_PLUGINS_WEBHOOK_SECRET in its environment) or set your own in both.',
    path,
  );
  return generated;
}

/** Wraps the provider to learn queue names, which the queue-depth gauge reads at scrape time. */
function trackQueues(inner: QueueProvider): { provider: QueueProvider; depth: () => Promise<QueueDepth[]> } {
  const names = new Set<string>();
  const provider: QueueProvider = {
    backend: inner.backend,
    queue: (name, opts) => (names.add(name), inner.queue(name, opts)),
    worker: (name, processor, opts) => (names.add(name), inner.worker(name, processor, opts)),
    events: (name) => inner.events(name),
    addBulk: (jobs) => (jobs.forEach((j) => names.add(j.queue)), inner.addBulk(jobs)),
    notifications: inner.notifications,
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  const depth = async () => {
    const out: QueueDepth[] = [];
    for (const name of [...names].sort()) {
      const counts = await inner.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'waiting-children');
      for (const [state, count] of Object.entries(counts)) out.push({ queue: name, state, count });
    }
    return out;
  };
  return { provider, depth };
}

export async function createRuntime(env: Readonly<Record<string, string | undefined>>, opts: RuntimeOptions = {}): Promise<ServerRuntime> {
  const catalogue = opts.plugins ?? (await import('../plugins/index.js')).ALL_PLUGINS;
  const loaded = loadConfig(env, catalogue);
  const log = opts.log ?? createLogger({ level: loaded.core.LOG_LEVEL, destination: opts.logDestination });
  const handlers = handlerTables(loaded.plugins);
  const inputValidators = createInputValidators(loaded.plugins, opts.actionsSdl ?? readActionsSdl);

  const dataDir = resolve(loaded.core.DATA_DIR);
  const webhookSecret = await resolveWebhookSecret(loaded.core, dataDir, log);
  const core: Readonly<CoreConfig> = Object.freeze({ ...loaded.core, NSELF_PLUGINS_WEBHOOK_SECRET: webhookSecret });
  log.info({ config: redactConfig(core) }, 'configuration');

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        log.error({ err }, 'shutdown step failed');
      }
    }
  };

  try {
    let databaseUrl = core.DATABASE_URL;
    let database: Runtime['engines']['database'] = 'external';
    let embeddedDir = '';
    if (!databaseUrl) {
      const { startEmbeddedPostgres } = await import('./embedded-postgres.js');
      const embedded = await startEmbeddedPostgres({ dataDir, log });
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
      embeddedDir = embedded.dir;
      database = 'embedded';
    }
    if (opts.migrate ?? true) {
      const { runMigrations } = await import('../hasura/migrator.js');
      // Only the foundation's and the enabled plugins' migrations: a disabled plugin leaves no schema behind.
      await runMigrations(databaseUrl, { log, plugins: loaded.plugins.map((p) => p.name) });
    }
    const db: ClosableDb = createDb(databaseUrl, { max: core.DATABASE_POOL_MAX, log });
    cleanups.push(() => db.close());

    let innerQueue = opts.queue;
    if (!innerQueue) {
      const { createQueueProvider } = await import('./queue.js');
      innerQueue = await createQueueProvider({ redisUrl: core.REDIS_URL, databaseUrl, poolMax: core.QUEUE_DB_POOL_MAX, log });
    }
    const { provider: queue, depth } = trackQueues(innerQueue);
    cleanups.push(() => queue.close());

    const engines = { database, queue: queue.backend } as const;
    log.info(
      {
        database: database === 'embedded' ? `embedded PostgreSQL in ${embeddedDir}` : 'PostgreSQL at DATABASE_URL',
        queue: queue.backend === 'redis' ? 'BullMQ on Redis (REDIS_URL)' : 'BullMQ on its PostgreSQL backend',
        plugins: loaded.plugins.map((p) => p.name),
      },
      'engines',
    );

    const metrics = createMetrics({ queueDepth: depth, defaultMetrics: opts.defaultMetrics });
    const byName = new Map(loaded.plugins.map((p) => [p.name, p]));
    const configOf = (plugin: string) => {
      if (!byName.has(plugin)) throw new Error(`plugin "${plugin}" is not enabled`);
      return loaded.pluginConfig.get(plugin) ?? Object.freeze({});
    };

    const services = new ServiceRegistry(loaded.plugins, catalogue);
    const pluginRuntimes = new Map<string, PluginRuntime>();
    const pluginRuntime = (plugin: string): PluginRuntime => {
      let r = pluginRuntimes.get(plugin);
      if (!r) {
        r = Object.freeze({
          plugin,
          config: configOf(plugin),
          core,
          log: log.child({ plugin }),
          db,
          queue,
          features: activeFeatures(byName.get(plugin)!),
          plugins: loaded.plugins,
          pluginConfig: loaded.pluginConfig,
          service: <T>(token: ServiceToken<T>) => services.get(plugin, token, false) as T,
          optionalService: <T>(token: ServiceToken<T>) => services.get(plugin, token, true),
          runtimeOf: (other: string) => pluginRuntime(other),
        });
        pluginRuntimes.set(plugin, r);
      }
      return r;
    };
    // Services after the database and queue they use, closed before them.
    await services.start(pluginRuntime, log);
    cleanups.push(() => services.close(log));

    const contextFor = (plugin: string, o: ContextOptions): HandlerContext => {
      const base = pluginRuntime(plugin);
      const receipt = o.receipt ?? { kind: 'event', handler: plugin };
      return new Context(base, o.session, o.requestId, receipt, o.log, o.bindings, o.action);
    };

    let closing: Promise<void> | undefined;
    return {
      core,
      plugins: loaded.plugins,
      pluginConfig: loaded.pluginConfig,
      log,
      db,
      queue,
      engines,
      handlers,
      inputValidators,
      metrics,
      webhookSecret,
      dataDir,
      databaseUrl,
      contextFor,
      pluginRuntime,
      close() {
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * A handler's context. A class so the per-request cost is one small object; the child logger is created
 * on first use because most successful requests never log.
 */
class Context implements HandlerContext {
  readonly config: Readonly<Record<string, unknown>>;
  readonly core: Readonly<CoreConfig>;
  readonly db: PluginRuntime['db'];
  readonly queue: QueueProvider;
  readonly plugin: string;
  readonly features: ReadonlySet<string>;
  #log: Logger | undefined;
  readonly #base: PluginRuntime;
  readonly #receipt: ReceiptScope;
  readonly #bindings: Record<string, unknown> | undefined;

  constructor(
    base: PluginRuntime,
    readonly session: Session | null,
    readonly requestId: string,
    receipt: ReceiptScope,
    log: Logger | undefined,
    bindings: Record<string, unknown> | undefined,
    readonly action: { name: string; requestQuery: string | null } | undefined,
  ) {
    this.#base = base;
    this.config = base.config;
    this.core = base.core;
    this.db = base.db;
    this.queue = base.queue;
    this.plugin = base.plugin;
    this.features = base.features;
    this.#receipt = receipt;
    this.#log = log;
    this.#bindings = bindings;
  }

  get log(): Logger {
    return (this.#log ??= this.#base.log.child({ requestId: this.requestId, ...this.#bindings }));
  }

  once<T>(key: string, fn: (tx: PoolClient) => Promise<T>) {
    return runOnce(this.db, this.#receipt, key, fn);
  }

  service<T>(token: ServiceToken<T>): T {
    return this.#base.service(token);
  }

  optionalService<T>(token: ServiceToken<T>): T | undefined {
    return this.#base.optionalService(token);
  }
}
