import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { revertMigrations, runMigrations } from '../../hasura/migrator.js';

interface MigrateFlags {
  down?: boolean;
  to?: string;
  plugins?: string;
  dir?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('Apply the plugins\' PostgreSQL migrations to DATABASE_URL (or revert them with --down)')
    .option('--down', 'revert applied migrations, newest first (all of them unless --to or --plugins)')
    .option('--to <version>', 'with --down: keep migrations up to and including this version')
    .option('--plugins <names>', 'comma-separated plugins: only their migrations (plus the foundation\'s when applying)')
    .option('--dir <path>', 'migrations folder (default: the package\'s hasura/migrations/default)')
    .action(async (flags: MigrateFlags) => {
      const url = ctx.env.DATABASE_URL;
      if (!url) throw new CliError('DATABASE_URL is not set: migrate needs the PostgreSQL to change');
      if (flags.to !== undefined && !flags.down) throw new CliError('--to only applies with --down');
      const plugins = parsePlugins(flags.plugins);
      try {
        if (flags.down) {
          const { reverted } = await revertMigrations(url, { to: flags.to, plugins, dir: flags.dir });
          ctx.out(reverted.length ? `reverted ${reverted.length} migration(s):` : 'nothing to revert');
          for (const r of reverted) ctx.out(`  ${r}`);
        } else {
          const { applied } = await runMigrations(url, { plugins, dir: flags.dir });
          ctx.out(applied.length ? `applied ${applied.length} migration(s):` : 'database is up to date');
          for (const a of applied) ctx.out(`  ${a}`);
        }
      } catch (e) {
        throw new CliError(e instanceof Error ? e.message : String(e));
      }
    });
}

function parsePlugins(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new CliError('--plugins needs at least one plugin name');
  for (const n of names) {
    if (!/^[a-z][a-z0-9_]*$/.test(n)) throw new CliError(`--plugins: "${n}" is not a plugin name (lowercase letters, digits, underscores)`);
  }
  return names;
}
