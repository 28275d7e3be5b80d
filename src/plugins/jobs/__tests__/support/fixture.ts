/**
 * A jobs service on a scratch database and, for the Redis backend, a Redis database index of its own (each
 * test file passes a distinct index, so files running in parallel never share BullMQ keys).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { createDb, type ClosableDb } from '../../../../core/db.js';
import { createQueueProvider } from '../../../../core/queue.js';
import type { ActionContext, CoreConfig, PluginManifest, PluginRuntime, ServiceToken } from '../../../../core/plugin.js';
import type { QueueProvider } from '../../../../core/queue-types.js';
import { migrationsDir } from '../../../../core/paths.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../../../../../test/support/db.js';
import { jobsConfig, type JobsConfig } from '../../config.js';
import { createJobsService, jobsService } from '../../lib/runtime.js';
import type { JobsService } from '../../lib/service.js';
import { waitFor as waitUntil } from '../../../../../test/support/wait.js';

export const BACKENDS = ['redis', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function redisUrlFor(dbIndex: number): string {
  return `${REDIS_URL.replace(/\/\d*$/, '')}/${dbIndex}`;
}

export async function flushRedis(url: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

export const JOBS_MIGRATION = join(migrationsDir, '1764000100000_jobs_dead_letter');

export function testCore(over: Partial<CoreConfig> = {}): CoreConfig {
  return {
    PORT: 0,
    HOST: '127.0.0.1',
    DATABASE_POOL_MAX: 10,
    QUEUE_DB_POOL_MAX: 10,
    PUBLIC_URL: 'http://localhost',
    LOG_LEVEL: 'silent',
    BODY_LIMIT_BYTES: 1024 * 1024,
    DATA_DIR: './.data',
    PLUGINS_ENABLED: ['jobs'],
    SHUTDOWN_TIMEOUT_MS: 5000,
    ...over,
  };
}

export interface Fixture {
  backend: Backend;
  scratch: ScratchDatabase;
  db: ClosableDb;
  provider: QueueProvider;
  config: JobsConfig;
  core: CoreConfig;
  jobs: JobsService;
  databaseUrl: string;
  redisUrl: string | undefined;
  jobsDir: string;
  /** An action context as the dispatcher builds it, for calling handlers directly. */
  actionCtx(role?: string): ActionContext<JobsConfig>;
  close(): Promise<void>;
}

export async function createFixture(
  backend: Backend,
  redisDb: number,
  opts: {
    plugins?: PluginManifest[];
    env?: Record<string, string>;
    jobsDir?: string;
    pluginConfig?: Map<string, Record<string, unknown>>;
    redisUrl?: string;
    runtimeOf?: (plugin: string) => PluginRuntime;
    log?: Logger;
  } = {},
): Promise<Fixture> {
  const scratch = await createScratchDatabase(`jobs_${backend}`);
  const db = createDb(scratch.url, { max: 10 });
  await db.query(readFileSync(join(JOBS_MIGRATION, 'up.sql'), 'utf8'));
  const redisUrl = backend === 'redis' ? (opts.redisUrl ?? redisUrlFor(redisDb)) : undefined;
  if (redisUrl) await flushRedis(redisUrl);
  const log = opts.log ?? silentLog;
  const provider = createQueueProvider({ databaseUrl: scratch.url, redisUrl, log });
  const ownDir = !opts.jobsDir;
  const jobsDir = opts.jobsDir ?? mkdtempSync(join(tmpdir(), 'nself-jobs-'));
  const config = jobsConfig.parse({ JOBS_DIR: jobsDir, ...opts.env });
  const core = testCore();
  const jobs = await createJobsService({
    provider,
    db,
    log,
    core,
    config,
    plugins: opts.plugins ?? [],
    pluginConfig: opts.pluginConfig ?? new Map(),
    ...(opts.runtimeOf ? { runtimeOf: opts.runtimeOf } : {}),
  });
  return {
    backend,
    scratch,
    db,
    provider,
    config,
    core,
    jobs,
    databaseUrl: scratch.url,
    redisUrl,
    jobsDir,
    actionCtx(role = 'admin') {
      return {
        config,
        core,
        log,
        db,
        queue: provider,
        session: { role, userId: null, variables: { 'x-hasura-role': role } },
        requestId: 'test',
        plugin: 'jobs',
        action: { name: 'test', requestQuery: null },
        once: () => {
          throw new Error('not used by jobs actions');
        },
        features: new Set<string>(),
        service: <T>(token: ServiceToken<T>): T => {
          if (token !== (jobsService as ServiceToken<unknown>)) throw new Error(`jobs actions use only the jobs service, not ${token.name}`);
          return jobs as T;
        },
        optionalService: <T>(token: ServiceToken<T>): T | undefined => (token === (jobsService as ServiceToken<unknown>) ? (jobs as T) : undefined),
      };
    },
    async close() {
      await jobs.stopWorkers(5000);
      await provider.close();
      await db.close();
      if (redisUrl) await flushRedis(redisUrl);
      await scratch.drop();
      if (ownDir) rmSync(jobsDir, { recursive: true, force: true });
    },
  };
}

export { sleep } from '../../../../../test/support/wait.js';

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export const waitFor = <T>(fn: () => Promise<T> | T, timeoutMs = 15_000, what = 'condition') => waitUntil(fn, timeoutMs, what);
