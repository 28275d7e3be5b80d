import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { ConfigError, coreConfigSchema, loadConfig, redactConfig, renderEnvExample } from '../../core/config.js';
import { packageRoot } from '../../core/paths.js';

export function register(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('Check settings and generate .env.example');

  config
    .command('check')
    .description('Validate the environment for the enabled plugins and print the settings (secrets redacted)')
    .action(async () => {
      const { ALL_PLUGINS } = await import('../../plugins/index.js');
      try {
        const loaded = loadConfig(ctx.env, ALL_PLUGINS);
        ctx.out(JSON.stringify(redactConfig(loaded.core, coreConfigSchema), null, 2));
        for (const p of loaded.plugins) {
          if (!p.config) continue;
          ctx.out(`${p.name}: ${JSON.stringify(redactConfig(loaded.pluginConfig.get(p.name) ?? {}, p.config))}`);
        }
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message);
        throw e;
      }
    });

  config
    .command('env-example')
    .description('Print .env.example generated from the core settings and every plugin manifest')
    .option('--write', 'write it to .env.example at the package root instead of printing it')
    .option('--check', 'exit 1 when the committed .env.example differs from the generated one')
    .action(async (opts: { write?: boolean; check?: boolean }) => {
      const { ALL_PLUGINS } = await import('../../plugins/index.js');
      const text = renderEnvExample(ALL_PLUGINS);
      const path = join(packageRoot, '.env.example');
      if (opts.check) {
        let current = '';
        try {
          current = readFileSync(path, 'utf8');
        } catch {
          /* missing counts as different */
        }
        if (current !== text) throw new CliError(`${path} is out of date; run: nself-plugins config env-example --write`);
        ctx.out(`${path} is up to date`);
      } else if (opts.write) {
        writeFileSync(path, text);
        ctx.out(`wrote ${path}`);
      } else {
        ctx.out(text.trimEnd());
      }
    });
}
