/**
 * One jobs service per running suite, found from any handler context through its queue provider. The
 * server's `start` hook (or the worker command) creates it; a handler that runs before that (a test
 * calling an action directly, a replica with the plugin's start hook not yet run) gets one built lazily.
 */
import type { Logger } from 'pino';
import type { CoreConfig, Db, PluginManifest, ServiceAccess } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { JobsConfig } from '../config.js';
import { JobRegistry } from './registry.js';
import { loadJobsDir, resolveJobsDir } from './loader.js';
import { JobsService } from './service.js';
import { useEnqueuer } from './enqueue.js';

export interface JobsServiceInput {
  provider: QueueProvider;
  db: Db;
  log: Logger;
  core: Readonly<CoreConfig>;
  config: Readonly<JobsConfig>;
  /** Enabled plugins; their manifests' `jobs` are registered. Default: the catalogue filtered by PLUGINS_ENABLED. */
  plugins?: readonly PluginManifest[];
  pluginConfig?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** Service access of each enabled plugin, for the jobs it contributed. */
  services?: (plugin: string) => ServiceAccess;
  /** Where a relative JOBS_DIR is resolved (default the working directory). */
  cwd?: string;
}

const services = new WeakMap<QueueProvider, Promise<JobsService>>();

async function enabledPlugins(core: Readonly<CoreConfig>): Promise<readonly PluginManifest[]> {
  // Imported lazily: the catalogue imports this plugin.
  const { ALL_PLUGINS } = await import('../../index.js');
  const enabled = new Set(core.PLUGINS_ENABLED);
  return ALL_PLUGINS.filter((p) => enabled.has(p.name));
}

export async function buildJobsService(input: JobsServiceInput): Promise<JobsService> {
  const plugins = input.plugins ?? (await enabledPlugins(input.core));
  const registry = new JobRegistry(new Set(plugins.map((p) => p.name)));
  for (const p of plugins) if (p.jobs?.length) registry.add(p.jobs, { plugin: p.name });
  const dir = resolveJobsDir(input.config.JOBS_DIR, input.cwd);
  const files = await loadJobsDir(dir);
  for (const { file, defs } of files) registry.add(defs, { file });
  input.log.info({ jobs: registry.all().length, files: files.length, dir, queues: registry.queues() }, 'jobs registered');
  const service = new JobsService({ ...input, registry });
  useEnqueuer(input.provider, service.enqueuer());
  return service;
}

/** Creates the service for `input.provider` and makes it the one handlers find. */
export function createJobsService(input: JobsServiceInput): Promise<JobsService> {
  const p = buildJobsService(input);
  services.set(input.provider, p);
  // A failed boot must not leave a rejected promise for handlers to find later.
  p.catch(() => services.delete(input.provider));
  return p;
}

/** The service of the suite a handler context belongs to. */
export function jobsServiceFor(ctx: {
  readonly queue: QueueProvider;
  readonly db: Db;
  readonly log: Logger;
  readonly core: Readonly<CoreConfig>;
  readonly config: Readonly<JobsConfig>;
}): Promise<JobsService> {
  return services.get(ctx.queue) ?? createJobsService({ provider: ctx.queue, db: ctx.db, log: ctx.log, core: ctx.core, config: ctx.config });
}

export function forgetJobsService(provider: QueueProvider): void {
  services.delete(provider);
}
