/**
 * `nself-plugins list | info <plugin> | docs <plugin>`: what the suite offers, before installing anything.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { loadCatalog } from '../../hasura/catalog.js';
import { fragmentFromCatalog, type CatalogEntry, type PluginCatalog } from '../../hasura/fragment.js';
import { pluginSettings } from '../../hasura/env-file.js';

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
    .action(async (name: string, opts: { json?: boolean }) => {
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const entry = find(catalog, name);
      const f = fragmentFromCatalog(catalog, entry);
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
      list('settings', pluginSettings(m).map((s) => `${s.key}${s.required ? ' (required)' : s.default !== undefined ? ` = ${s.default}` : ''}${s.secret ? ' [secret]' : ''}${s.description ? ` — ${s.description}` : ''}`));
      list('features', Object.entries(m.features ?? {}).map(([k, v]) => `${k}${v.default ? ' (default on)' : ''} — ${v.description}`));
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
