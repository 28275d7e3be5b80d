/**
 * Creating the jobs service, and the plugin service token through which handlers reach it.
 */
import type { Logger } from 'pino';
import type { CoreConfig, Db, PluginManifest, PluginRuntime } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { JobsConfig } from '../config.js';
import { JobRegistry } from './registry.js';
import { loadJobsDir, resolveJobsDir } from './loader.js';
import { JobsService } from './service.js';
import { defineService } from '../../../core/plugin.js';

export interface JobsServiceInput {
  provider: QueueProvider;
  db: Db;
  log: Logger;
  core: Readonly<CoreConfig>;
  config: Readonly<JobsConfig>;
  /** Enabled plugins; their manifests' `jobs` are registered. Default: the catalogue filtered by PLUGINS_ENABLED. */
  plugins?: readonly PluginManifest[];
  pluginConfig?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** Runtime of an enabled plugin: gives the jobs it contributed their plugin's features and services. */
  runtimeOf?: (plugin: string) => PluginRuntime;
  /** Where a relative JOBS_DIR is resolved (default the working directory). */
  cwd?: string;
}

async function enabledPlugins(core: Readonly<CoreConfig>): Promise<readonly PluginManifest[]> {
  // Imported lazily: the catalogue imports this plugin.
  const { ALL_PLUGINS } = await import('../../index.js');
  const enabled = new Set(core.PLUGINS_ENABLED);
  return ALL_PLUGINS.filter((p) => enabled.has(p.name));
}

/** Builds a jobs service: the enabled plugins' jobs and the app's job files registered, no worker started. */
export async function createJobsService(input: JobsServiceInput): Promise<JobsService> {
  const plugins = input.plugins ?? (await enabledPlugins(input.core));
  const registry = new JobRegistry(new Set(plugins.map((p) => p.name)));
  for (const p of plugins) if (p.jobs?.length) registry.add(p.jobs, { plugin: p.name });
  const dir = resolveJobsDir(input.config.JOBS_DIR, input.cwd);
  const files = await loadJobsDir(dir);
  for (const { file, defs } of files) registry.add(defs, { file });
  input.log.info({ jobs: registry.all().length, files: files.length, dir, queues: registry.queues() }, 'jobs registered');
  return new JobsService({ ...input, registry });
}

/**
 * The jobs plugin's service: one per runtime, created after the database and queue, closed (workers
 * stopped) before them. Handlers of jobs and of every plugin that depends on it reach it with
 * `ctx.service(jobsService)`; `defineJob(...).enqueue(ctx, …)` uses it for the configured defaults and
 * batched adds.
 */
export const jobsService = defineService<JobsService, JobsConfig>({
  name: 'service',
  create: (runtime) =>
    createJobsService({
      provider: runtime.queue,
      db: runtime.db,
      log: runtime.log,
      core: runtime.core,
      config: runtime.config,
      plugins: runtime.plugins,
      pluginConfig: runtime.pluginConfig,
      ...(runtime.runtimeOf ? { runtimeOf: runtime.runtimeOf } : {}),
    }),
  close: (service) => service.stopWorkers(),
});
