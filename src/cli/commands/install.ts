/**
 * `nself-plugins install <plugin...>` and `nself-plugins remove <plugin...>` against a Hasura CLI v3 project.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { loadCatalog } from '../../hasura/catalog.js';
import { install, remove, resolveSelection } from '../../hasura/installer.js';
import { envKeys, pluginSettings, type EnvSetting } from '../../hasura/env-file.js';
import type { PluginCatalog } from '../../hasura/fragment.js';
import type { PluginChange } from '../../hasura/merge.js';
import { assignOptions, InstallOptionError, optionNeededSettings, splitOptionTokens, type GivenOption } from '../../hasura/project-triggers.js';
import { CliError } from '../context.js';

function describeChange(c: PluginChange): string {
  switch (c.status) {
    case 'added':
      return `installed ${c.plugin}@${c.to}`;
    case 'updated':
      return `updated ${c.plugin}${c.from ? ` ${c.from} →` : ' to'} ${c.to}`;
    case 'unchanged':
      return `${c.plugin}${c.to ? `@${c.to}` : ''} is already installed; nothing to do`;
    case 'removed':
      return `removed ${c.plugin}${c.from ? `@${c.from}` : ''}`;
  }
}

type Ask = NonNullable<CliContext['ask']>;

/** Asks on the terminal (stderr, so stdout stays the command's report). */
async function askOnTerminal(settings: EnvSetting[], ctx: CliContext): Promise<Record<string, string>> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await prompt(settings, (question) => rl.question(question));
  } finally {
    rl.close();
    ctx.err('');
  }
}

async function prompt(settings: EnvSetting[], ask: Ask): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of settings) {
    const answer = await ask(`${s.key}${s.description ? ` (${s.description})` : ''}: `, { secret: s.secret });
    if (answer.trim()) out[s.key] = answer.trim();
  }
  return out;
}

/**
 * What to ask for: required settings without a default, and the settings the given install options need (a
 * chosen provider's credentials), except those the env file already sets.
 */
function settingsToAsk(catalog: PluginCatalog, names: string[], given: readonly GivenOption[], envFile: string): EnvSetting[] {
  const entries = resolveSelection(catalog, names);
  const byPlugin = assignOptions(
    entries.map((e) => e.manifest),
    given,
  );
  const present = existsSync(envFile) ? envKeys(readFileSync(envFile, 'utf8')) : new Set<string>();
  const out: EnvSetting[] = [];
  for (const e of entries) {
    const settings = pluginSettings(e.manifest);
    const needed = optionNeededSettings(e.manifest, byPlugin.get(e.manifest.name) ?? {});
    for (const s of settings) {
      if ((s.required && s.default === undefined) || needed.includes(s.key)) {
        if (!present.has(s.key) && !out.some((o) => o.key === s.key)) out.push(s);
      }
    }
  }
  return out;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('install')
    .description('Merge plugins (and the plugins they depend on) into a Hasura CLI v3 project')
    .argument('<plugins...>')
    .option('--project <dir>', 'Hasura project folder (with config.yaml)', './hasura')
    .option('--features <list>', 'comma-separated features to switch on (feature or plugin:feature)')
    .option('--database <name>', 'Hasura database (source) for the plugins’ tables and migrations')
    .option('--env-dir <dir>', 'folder of .env/.env.example (default: the project folder’s parent)')
    .option('--no-env', 'leave .env and .env.example alone')
    .option('--dry-run', 'show what would change without writing')
    .option('-y, --yes', 'non-interactive: never prompt; required settings are written empty')
    .addHelpText('after', "\nA plugin's own install options (`nself-plugins info <plugin>` lists them) follow as --<option> <value>.")
    // Options a plugin declares (`--engine`, `--index`) are not known here: they arrive among the operands.
    .allowUnknownOption()
    .action(
      async (
        operands: string[],
        opts: { project: string; features?: string; database?: string; envDir?: string; env: boolean; dryRun?: boolean; yes?: boolean },
      ) => {
        let split;
        try {
          split = splitOptionTokens(operands);
        } catch (e) {
          if (e instanceof InstallOptionError) throw new CliError(e.message);
          throw e;
        }
        const plugins = split.operands;
        if (!plugins.length) throw new CliError('name at least one plugin to install');
        const catalog = await loadCatalog(ctx.env, ctx.cwd);
        const projectDir = resolve(ctx.cwd, opts.project);
        let settings: Record<string, string> = {};
        if (!opts.yes && opts.env && (ctx.ask || process.stdin.isTTY)) {
          const envDir = opts.envDir ? resolve(ctx.cwd, opts.envDir) : dirname(projectDir);
          let needed: EnvSetting[];
          try {
            needed = settingsToAsk(catalog, plugins, split.options, join(envDir, '.env'));
          } catch (e) {
            if (e instanceof InstallOptionError) throw new CliError(e.message);
            throw e;
          }
          if (needed.length) settings = ctx.ask ? await prompt(needed, ctx.ask.bind(ctx)) : await askOnTerminal(needed, ctx);
        }
        const r = install({
          projectDir,
          catalog,
          plugins,
          features: opts.features ? opts.features.split(',').map((s) => s.trim()).filter(Boolean) : [],
          ...(opts.database ? { source: opts.database } : {}),
          envDir: opts.env ? (opts.envDir ? resolve(ctx.cwd, opts.envDir) : undefined) : null,
          settings,
          options: split.options,
          dryRun: !!opts.dryRun,
        });
        for (const c of r.changes) ctx.out(describeChange(c));
        for (const op of r.ops) {
          if (op.op === 'add_event_trigger') ctx.out(`event trigger ${op.trigger.name} on ${op.table.schema}.${op.table.name}`);
          if (op.op === 'add_table' && op.table.table.schema !== op.plugin) {
            ctx.out(`tracked ${op.table.table.schema}.${op.table.table.name} for event trigger ${(op.table.event_triggers ?? []).map((t) => t.name).join(', ')}`);
          }
        }
        if (r.migrations.length) ctx.out(`migrations: ${r.migrations.join(', ')}`);
        for (const e of r.env) ctx.out(`${e.file}: added ${e.keys.join(', ')}`);
        if (r.missing.length) ctx.err(`set these required settings in .env before starting: ${r.missing.join(', ')}`);
        for (const n of r.notes) ctx.err(n);
        if (opts.dryRun) {
          ctx.out(r.files.length ? `would change: ${r.files.join(', ')}` : 'nothing would change');
        } else if (r.files.length) {
          ctx.out(`next: hasura migrate apply --project ${opts.project} && hasura metadata apply --project ${opts.project} (or: nself-plugins apply)`);
        }
      },
    );

  program
    .command('remove')
    .description("Take plugins' metadata, migrations and settings back out of a Hasura CLI v3 project")
    .argument('<plugins...>')
    .option('--project <dir>', 'Hasura project folder (with config.yaml)', './hasura')
    .option(
      '--database-url <url>',
      'PostgreSQL to check whether the plugins’ migrations were applied (not applied: they are deleted; applied or unchecked: an uninstall migration is written)',
    )
    .option('--env-dir <dir>', 'folder of .env/.env.example (default: the project folder’s parent)')
    .option('--no-env', 'leave .env and .env.example alone')
    .option('--dry-run', 'show what would change without writing')
    .option('-y, --yes', 'non-interactive')
    .action(async (plugins: string[], opts: { project: string; databaseUrl?: string; envDir?: string; env: boolean; dryRun?: boolean }) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const r = await remove({
        projectDir: resolve(ctx.cwd, opts.project),
        catalog,
        plugins,
        ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
        envDir: opts.env ? (opts.envDir ? resolve(ctx.cwd, opts.envDir) : undefined) : null,
        dryRun: !!opts.dryRun,
      });
      for (const c of r.changes) ctx.out(describeChange(c));
      if (r.deletedMigrations.length) ctx.out(`deleted unapplied migrations: ${r.deletedMigrations.join(', ')}`);
      if (r.uninstallMigrations.length) ctx.out(`wrote uninstall migrations: ${r.uninstallMigrations.join(', ')}`);
      for (const n of r.notes) ctx.err(n);
      if (opts.dryRun) ctx.out(r.files.length ? `would change: ${r.files.join(', ')}` : 'nothing would change');
    });
}
