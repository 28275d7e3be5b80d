/**
 * `nself-plugins apply --endpoint URL --admin-secret S [--plugins a,b]`: merge plugins into a running
 * Hasura's metadata through the Metadata API (no project files involved).
 */
import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { loadCatalog } from '../../hasura/catalog.js';
import { checkFragmentsTogether, fragmentFromCatalog } from '../../hasura/fragment.js';
import { featureSelection, resolveSelection } from '../../hasura/installer.js';
import { featuresKey, parseFeatures } from '../../core/features.js';
import { applyPlugins, applyProjectTriggers, describeInconsistency, MetadataApi, pickSource } from '../../hasura/metadata-api.js';
import { InstallOptionError, optionsFromEnv, renderProjectTriggers } from '../../hasura/project-triggers.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('apply')
    .description("Merge plugins into a running Hasura's metadata (export → merge → replace_metadata)")
    .option('--endpoint <url>', 'Hasura URL (default: $HASURA_GRAPHQL_ENDPOINT)')
    .option('--admin-secret <secret>', 'admin secret (default: $HASURA_GRAPHQL_ADMIN_SECRET)')
    .option('--plugins <list>', 'comma-separated plugins (default: all); dependencies are added')
    .option('--database <name>', 'Hasura database (source) for the plugins’ tables')
    .option('--features <list>', 'comma-separated features (feature or plugin:feature); default: <PLUGIN>_FEATURES, else each plugin’s defaults')
    .option('--max-attempts <n>', 'attempts on resource_version conflicts', '5')
    .action(async (opts: { endpoint?: string; adminSecret?: string; plugins?: string; database?: string; features?: string; maxAttempts: string }) => {
      const endpoint = opts.endpoint ?? ctx.env.HASURA_GRAPHQL_ENDPOINT;
      if (!endpoint) throw new CliError('--endpoint is required (or set HASURA_GRAPHQL_ENDPOINT)');
      const adminSecret = opts.adminSecret ?? ctx.env.HASURA_GRAPHQL_ADMIN_SECRET;
      const maxAttempts = Number(opts.maxAttempts);
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw new CliError('--max-attempts must be an integer from 1 to 100');
      const catalog = await loadCatalog(ctx.env, ctx.cwd);
      const names = opts.plugins ? opts.plugins.split(',').map((s) => s.trim()).filter(Boolean) : catalog.plugins.map((p) => p.manifest.name);
      const entries = resolveSelection(catalog, names);
      // The same features the handler server runs with: its <PLUGIN>_FEATURES, unless named here.
      const requested = opts.features ? opts.features.split(',').map((s) => s.trim()).filter(Boolean) : [];
      const fromEnv = (plugin: string) => {
        const entry = entries.find((e) => e.manifest.name === plugin)!;
        const value = ctx.env[featuresKey(plugin)];
        if (!value) return undefined;
        const r = parseFeatures(entry.manifest, value);
        if (r.problems.length) throw new CliError(`${featuresKey(plugin)}: ${r.problems.join('; ')}`);
        return r.features;
      };
      const features = featureSelection(entries, requested, fromEnv);
      const fragments = entries.map((e) => fragmentFromCatalog(catalog, e, features.get(e.manifest.name)));
      checkFragmentsTogether(fragments);
      const api = new MetadataApi({ endpoint, ...(adminSecret ? { adminSecret } : {}) });
      const r = await applyPlugins(api, fragments, { ...(opts.database ? { source: opts.database } : {}), maxAttempts });
      for (const c of r.changes) {
        ctx.out(c.status === 'unchanged' ? `${c.plugin}@${c.to} is already applied` : `${c.status} ${c.plugin}@${c.to}${c.from ? ` (was ${c.from})` : ''}`);
      }
      ctx.out(r.to === r.from ? `metadata unchanged (resource_version ${r.from})` : `metadata replaced (resource_version ${r.from} → ${r.to}${r.attempts > 1 ? `, after ${r.attempts} attempts` : ''})`);
      // Triggers on the project's own tables, from the install options the server reads too (their settings).
      const withTriggers = entries.filter((e) => e.manifest.install?.projectTriggers);
      if (withTriggers.length) {
        const source = pickSource((await api.exportMetadata()).metadata, opts.database);
        for (const e of withTriggers) {
          let wanted;
          try {
            wanted = renderProjectTriggers(e.manifest, optionsFromEnv(e.manifest, ctx.env), source);
          } catch (err) {
            if (err instanceof InstallOptionError) throw new CliError(err.message);
            throw err;
          }
          const t = await applyProjectTriggers(api, e.manifest.name, wanted);
          const parts = [
            t.created.length ? `created ${t.created.join(', ')}` : '',
            t.replaced.length ? `replaced ${t.replaced.join(', ')}` : '',
            t.deleted.length ? `deleted ${t.deleted.join(', ')}` : '',
            t.tracked.length ? `tracked ${t.tracked.join(', ')}` : '',
          ].filter(Boolean);
          ctx.out(`${e.manifest.name} project triggers: ${parts.join('; ') || 'unchanged'}`);
        }
      }
      if (r.inconsistent.length) {
        throw new CliError(`Hasura reports inconsistent metadata:\n${r.inconsistent.map((o) => `  - ${describeInconsistency(o)}`).join('\n')}`);
      }
    });
}
