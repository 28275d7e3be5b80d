/**
 * `nself-plugins list | info <plugin> | docs <plugin>`: what the suite offers, before installing anything.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { loadCatalog } from '../../hasura/catalog.js';
import { fragmentFromCatalog, type CatalogEntry, type PluginCatalog } from '../../hasura/fragment.js';
import { pluginSettings } from '../../hasura/env-file.js';
import { installedPlugins, type InstalledPlugin } from '../../hasura/installer.js';
import { featuresKey, parseFeatures } from '../../core/features.js';
import { settingFeature } from '../../core/config.js';
import type { PluginManifest } from '../../core/plugin.js';
import type { z } from 'zod';

/** One line per feature: on/off, default, description, and the objects and settings it switches. */
function featureLines(m: PluginManifest<any>, on: ReadonlySet<string>): string[] {
  return Object.entries(m.features ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, spec]) => {
      const parts = [
        ...Object.entries(m.actions ?? {}).filter(([, a]) => a.feature === name).map(([n]) => `action ${n}`),
        ...(m.tables ?? []).filter((t) => t.feature === name).map((t) => `table ${t.table.schema}.${t.table.name}`),
        ...(m.tables ?? []).flatMap((t) => (t.event_triggers ?? []).filter((e) => e.feature === name).map((e) => `event trigger ${e.name}`)),
        ...Object.entries(m.crons ?? {}).filter(([, c]) => c.feature === name).map(([n]) => `cron ${n}`),
        ...(m.functions ?? []).filter((x) => x.feature === name).map((x) => `function ${x.function.schema}.${x.function.name}`),
        ...(m.jobs ?? []).filter((j) => j.feature === name).map((j) => `job ${j.name}`),
        ...(m.services ?? []).filter((x) => x.feature === name).map((x) => `service ${x.name}`),
        ...Object.entries((m.config?.shape ?? {}) as Record<string, z.ZodType>).filter(([, s]) => settingFeature(s) === name).map(([k]) => `setting ${k}`),
      ];
      const flags = [on.has(name) ? 'on' : 'off', spec.default ? 'default on' : '', spec.requires?.length ? `needs ${spec.requires.join(', ')}` : ''].filter(Boolean);
      return `${name} [${flags.join('; ')}] — ${spec.description}${parts.length ? ` (${parts.join(', ')})` : ''}`;
    });
}

function find(catalog: PluginCatalog, name: string): CatalogEntry {
  const entry = catalog.plugins.find((p) => p.manifest.name === name);
  if (!entry) {
    const known = catalog.plugins.map((p) => p.manifest.name).join(', ') || '(none)';
    throw new CliError(`unknown plugin ${name}; known plugins: ${known}`);
  }
  return entry;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('List the plugins of the suite')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const rows = catalog.plugins.map((p) => ({
        name: p.manifest.name,
        version: p.manifest.version,
        dependsOn: p.manifest.dependsOn ?? [],
        description: p.manifest.description,
      }));
      if (opts.json) {
        ctx.out(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        ctx.out('no plugins');
        return;
      }
      const w = Math.max(...rows.map((r) => `${r.name}@${r.version}`.length));
      for (const r of rows) {
        const deps = r.dependsOn.length ? ` (needs ${r.dependsOn.join(', ')})` : '';
        ctx.out(`${`${r.name}@${r.version}`.padEnd(w)}  ${r.description}${deps}`);
      }
    });

  program
    .command('info')
    .description("Show a plugin's Hasura objects, settings, features and migrations")
    .argument('<plugin>')
    .option('--json', 'print the metadata fragment as JSON')
    .option('--features <list>', 'show the plugin with these features on (default: its default features)')
    .option('--project <dir>', 'show the features installed in this Hasura project')
    .action(async (name: string, opts: { json?: boolean; features?: string; project?: string }) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const entry = find(catalog, name);
      let on: string[] | undefined;
      let where = 'default';
      let installed: InstalledPlugin | undefined;
      if (opts.project) {
        installed = installedPlugins(resolve(ctx.cwd, opts.project)).get(name);
        if (!installed) throw new CliError(`plugin ${name} is not installed in ${opts.project}`);
        on = installed.features;
        where = `installed in ${opts.project}`;
      }
      if (opts.features !== undefined) {
        const r = parseFeatures(entry.manifest, opts.features);
        if (r.problems.length) throw new CliError(r.problems.join('; '));
        on = r.features;
        where = 'chosen';
      }
      const f = fragmentFromCatalog(catalog, entry, on);
      if (opts.json) {
        ctx.out(JSON.stringify(f, null, 2));
        return;
      }
      const m = entry.manifest;
      ctx.out(`${m.name}@${m.version} — ${m.description}`);
      if (m.dependsOn?.length) ctx.out(`depends on: ${m.dependsOn.join(', ')}`);
      const list = (title: string, items: string[]) => {
        if (!items.length) return;
        ctx.out(`${title}:`);
        for (const i of items) ctx.out(`  ${i}`);
      };
      list('actions', f.actions.map((a) => `${a.definition.type} ${a.name}(${(a.definition.arguments ?? []).map((x) => `${x.name}: ${x.type}`).join(', ')}): ${a.definition.output_type}  [roles: ${(a.permissions ?? []).map((p) => p.role).join(', ') || 'admin only'}]`));
      list('tables', f.tables.map((t) => `${t.table.schema}.${t.table.name}`));
      list('event triggers', f.tables.flatMap((t) => (t.event_triggers ?? []).map((e) => `${e.name} on ${t.table.schema}.${t.table.name}`)));
      list('cron triggers', f.crons.map((c) => `${c.name}  ${c.schedule} (UTC)`));
      list('settings', pluginSettings(m).map((s) => `${s.key}${s.required ? ' (required)' : s.default !== undefined ? ` = ${s.default}` : ''}${s.secret ? ' [secret]' : ''}${s.feature ? ` [feature ${s.feature}]` : ''}${s.description ? ` — ${s.description}` : ''}`));
      list(`features (${featuresKey(m.name)}; on: ${f.features.join(', ') || 'none'}, ${where})`, featureLines(m, new Set(f.features)));
      list(
        `install options${installed ? ` (installed in ${opts.project})` : ''}`,
        Object.entries(m.install?.options ?? {}).map(
          ([o, spec]) => `--${o}${spec.list ? ' <a,b,…>' : ' <value>'} → ${spec.setting}${installed ? ` = ${installed.options[o] ?? '(default)'}` : ''} — ${spec.description}`,
        ),
      );
      if (installed) list('project triggers', installed.projectTriggers.map((t) => `${t.name} on ${t.table.schema}.${t.table.name} (database ${t.source}${t.createdTable ? '; tracked for it' : ''})`));
      list('migrations', f.migrations.map((x) => `${x.version}_${x.name}`));
    });

  program
    .command('docs')
    .description("Print a plugin's README")
    .argument('<plugin>')
    .action(async (name: string) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const entry = find(catalog, name);
      if (!entry.readmePath) throw new CliError(`plugin ${name} has no README`);
      ctx.out(readFileSync(entry.readmePath, 'utf8').trimEnd());
    });
}
