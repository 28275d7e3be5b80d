/**
 * `nself-plugins compose [--check]`: renders the suite's `hasura/` project (metadata, config.yaml,
 * scalars.graphql) from the plugin manifests.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { loadCatalog } from '../../hasura/catalog.js';
import { composeProject, writeComposed } from '../../hasura/compose.js';
import { hasuraDir } from '../../core/paths.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('compose')
    .description('Render hasura/metadata (and hasura/config.yaml, hasura/scalars.graphql) from the plugin manifests')
    .option('--check', 'write nothing; exit 1 when the files differ from a fresh compose')
    .option('--out <dir>', 'Hasura project folder to write (default: the package’s hasura/)')
    .action(async (opts: { check?: boolean; out?: string }) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const dir = opts.out ? resolve(ctx.cwd, opts.out) : hasuraDir;
      const result = writeComposed(dir, composeProject(catalog), !!opts.check);
      if (opts.check) {
        if (result.drift.length) {
          throw new CliError(`${dir} is out of date (${result.drift.join(', ')}); run: npm run compose`);
        }
        ctx.out(`${dir} is up to date`);
        return;
      }
      ctx.out(result.written ? `wrote ${result.drift.join(', ')} in ${dir}` : `${dir} is up to date`);
    });
}
