import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliError, type CliContext } from '../context.js';
import { jobsConfig } from '../../plugins/jobs/config.js';
import { scaffoldJob, ScaffoldError } from '../../plugins/jobs/lib/scaffold.js';

export function register(program: Command, ctx: CliContext): void {
  const job = program.command('job').description('The app\'s own background jobs (files in JOBS_DIR)');
  job
    .command('create <name>')
    .description('Scaffold a typed job file in JOBS_DIR; it is registered at the next boot')
    .option('--schedule <cron>', 'run it on this cron schedule (5 fields, or 6 with seconds first)')
    .option('--tz <zone>', 'IANA time zone of the schedule (default UTC)')
    .option('--queue <queue>', 'queue to run on (default: "scheduled" with --schedule, else "default")')
    .option('--dir <dir>', 'folder to write to (default JOBS_DIR, else ./jobs)')
    .action((name: string, opts: { schedule?: string; tz?: string; queue?: string; dir?: string }) => {
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
}
