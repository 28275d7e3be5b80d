import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliError, type CliContext } from '../context.js';
import { jobsConfig } from '../../plugins/jobs/config.js';
import { scaffoldJob, ScaffoldError } from '../../plugins/jobs/lib/scaffold.js';
import { queueNameProblem } from '../../plugins/jobs/lib/names.js';

export function register(program: Command, ctx: CliContext): void {
  const job = program.command('job').description('The app\'s own background jobs (files in JOBS_DIR)');
  job
    .command('create <name>')
    .description('Scaffold a typed job file in JOBS_DIR; it is registered at the next boot')
    .option('--schedule <cron>', 'run it on this cron schedule (5 fields, or 6 with seconds first)')
    .option('--tz <zone>', 'IANA time zone of the schedule (default UTC)')
    .option('--queue <queue>', 'queue to run on (default: "scheduled" with --schedule, else "default")')
    .option('--dir <dir>', 'folder to write to (default JOBS_DIR, else ./jobs)')
    .option('--description <text>', 'what the job does (its doc comment and `description`)')
    .action((name: string, opts: { schedule?: string; tz?: string; queue?: string; dir?: string; description?: string }) => {
      const dir = resolve(ctx.cwd, opts.dir ?? (ctx.env.JOBS_DIR || jobsConfig.shape.JOBS_DIR.parse(undefined)));
      try {
        const file = scaffoldJob({ dir, name, ...opts });
        ctx.out(`created ${file}`);
        ctx.out(`it is loaded at the next start of \`nself-plugins serve\` or \`nself-plugins worker\`; enqueue it with jobsEnqueue(name: ${JSON.stringify(name)})`);
      } catch (e) {
        if (e instanceof ScaffoldError) throw new CliError(e.message);
        throw e;
      }
    });

  job
    .command('repair [queues...]')
    .usage('[queues...]  (default: every queue this installation knows)')
    .description('Take jobs whose ids are BullMQ key names out of Redis queues they broke, keeping them in jobs.dead_letter')
    .action(async (queues: string[]) => {
      const { createRuntime } = await import('../../core/runtime.js');
      const { ALL_PLUGINS } = await import('../../plugins/index.js');
      const { jobsPlugin } = await import('../../plugins/jobs/plugin.js');
      const { jobsService } = await import('../../plugins/jobs/lib/runtime.js');
      const catalogue = ALL_PLUGINS.some((p) => p.name === 'jobs') ? ALL_PLUGINS : [...ALL_PLUGINS, jobsPlugin];
      const runtime = await createRuntime(ctx.env, { plugins: catalogue });
      try {
        const jobs = runtime.pluginRuntime('jobs').service(jobsService);
        // Any queue may be named, also one of a plugin no longer enabled: its jobs are still in Redis.
        const bad = queues.map(queueNameProblem).filter((p): p is string => !!p);
        if (bad.length) throw new CliError(bad.join('; '));
        if (jobs.backend !== 'redis') {
          ctx.out('nothing to repair: on PostgreSQL no job id can damage a queue');
          return;
        }
        const repaired = await jobs.repairQueues(queues.length ? queues : undefined);
        if (!repaired.length) ctx.out('every queue is sound');
        for (const r of repaired) {
          if (r.removed.length) ctx.out(`${r.queue}: moved ${r.removed.map((id) => JSON.stringify(id)).join(', ')} to jobs.dead_letter`);
          for (const l of r.left) ctx.err(`${r.queue}: ${l}`);
        }
        if (repaired.some((r) => r.left.length)) throw new CliError('some damage needs repair by hand (see above)');
      } finally {
        await runtime.close();
      }
    });
}
