import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { ConfigError } from '../../core/config.js';
import { RegistryError } from '../../core/registry.js';

/**
 * `nself-plugins worker`: job workers without the HTTP server, so workers scale apart from handlers. SIGTERM
 * or SIGINT stops taking jobs and waits for running ones (JOBS_SHUTDOWN_TIMEOUT_MS) before exiting.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description('Run background job workers (no HTTP server)')
    .option('--queues <list>', 'comma-separated queues to work on (default JOBS_QUEUES, else every queue)')
    .option('--concurrency <n>', 'jobs per queue at once (overrides JOBS_CONCURRENCY)')
    .action(async (opts: { queues?: string; concurrency?: string }) => {
      const env = { ...ctx.env };
      if (opts.concurrency !== undefined) env.JOBS_CONCURRENCY = opts.concurrency;
      const { createRuntime } = await import('../../core/runtime.js');
      const { ALL_PLUGINS } = await import('../../plugins/index.js');
      const { jobsPlugin, parseQueueList } = await import('../../plugins/jobs/plugin.js');
      const { jobsService } = await import('../../plugins/jobs/lib/runtime.js');
      const { JobFileError } = await import('../../plugins/jobs/lib/loader.js');
      const { JobRegistryError } = await import('../../plugins/jobs/lib/registry.js');
      // The worker is the jobs plugin's own command: it runs even in a catalogue that does not list it yet.
      const catalogue = ALL_PLUGINS.some((p) => p.name === 'jobs') ? ALL_PLUGINS : [...ALL_PLUGINS, jobsPlugin];

      let runtime;
      try {
        runtime = await createRuntime(env, { plugins: catalogue });
      } catch (e) {
        if (e instanceof ConfigError || e instanceof RegistryError) throw new CliError(e.message);
        // A broken job file stops the jobs service at creation: say what is wrong with the file.
        const cause = (e as { cause?: unknown }).cause;
        if (cause instanceof JobFileError || cause instanceof JobRegistryError) throw new CliError(cause.message);
        throw e;
      }
      try {
        if (!runtime.plugins.some((p) => p.name === 'jobs')) throw new CliError('the jobs plugin is not enabled; add "jobs" to PLUGINS_ENABLED');
        const jobsRuntime = runtime.pluginRuntime('jobs') as import('../../core/plugin.js').PluginRuntime<import('../../plugins/jobs/config.js').JobsConfig>;
        const config = jobsRuntime.config;
        const jobs = jobsRuntime.service(jobsService);
        const wanted = parseQueueList(opts.queues) ?? parseQueueList(config.JOBS_QUEUES);
        const unknown = (wanted ?? []).filter((q) => !jobs.registry.hasQueue(q));
        if (unknown.length) throw new CliError(`unknown queue${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known queues: ${jobs.registry.queues().join(', ')}`);
        const queues = await jobs.startWorkers(wanted);
        ctx.out(`working on ${queues.join(', ')} (BullMQ on ${jobs.backend}); stop with SIGTERM or Ctrl-C`);
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        runtime.log.info({ signal }, 'worker stopping: waiting for running jobs');
        await jobs.stopWorkers();
      } finally {
        await runtime.close();
      }
    });
}
