/**
 * Feature flags of a plugin (`install --features thumbnails,virus-scan`, `<PLUGIN>_FEATURES` at run time).
 *
 * A manifest marks actions, triggers, crons, tables, functions, its remote schema, jobs, services and settings
 * with the `feature` they belong to. `withFeatures` gives the manifest as it runs with a set of features on:
 * everything of a feature that is off is simply absent, so the registry, the config loader, the jobs plugin and
 * compose all work on it unchanged — a disabled feature's jobs never run and its settings are never required.
 */
import { z as zod, type z } from 'zod';
import { settingFeature } from './config.js';
import type { PluginManifest, TableSpec } from './plugin.js';

/** `<PLUGIN>_FEATURES`: the features that are on, comma-separated; `none` for none, `all` for all. */
export function featuresKey(plugin: string): string {
  return `${plugin.toUpperCase()}_FEATURES`;
}

export function declaredFeatures(m: PluginManifest<any>): string[] {
  return Object.keys(m.features ?? {}).sort();
}

export function defaultFeatures(m: PluginManifest<any>): string[] {
  return Object.entries(m.features ?? {})
    .filter(([, f]) => f.default)
    .map(([name]) => name)
    .sort();
}

/** Problems with the features in `wanted`: unknown names and unmet `requires`. */
export function featureSelectionProblems(m: PluginManifest<any>, wanted: readonly string[]): string[] {
  const declared = m.features ?? {};
  const problems: string[] = [];
  const available = declaredFeatures(m).join(', ') || '(none)';
  for (const f of wanted) if (!(f in declared)) problems.push(`unknown feature "${f}" of plugin ${m.name}; available: ${available}`);
  const on = new Set(wanted);
  for (const f of wanted) {
    for (const r of declared[f]?.requires ?? []) if (!on.has(r)) problems.push(`feature "${f}" of plugin ${m.name} needs feature "${r}"`);
  }
  return problems;
}

/**
 * The features a `<PLUGIN>_FEATURES` value switches on (unset or empty: the defaults), sorted, with every
 * problem in it.
 */
export function parseFeatures(m: PluginManifest<any>, value: string | undefined): { features: string[]; problems: string[] } {
  const v = value?.trim();
  if (!v) return { features: defaultFeatures(m), problems: [] };
  if (v === 'none') return { features: [], problems: [] };
  if (v === 'all') return { features: declaredFeatures(m), problems: [] };
  const features = [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))].sort();
  return { features, problems: featureSelectionProblems(m, features) };
}

/** Items a plugin author tagged with a feature the manifest does not declare. */
export function featureTagProblems(m: PluginManifest<any>): string[] {
  const declared = m.features ?? {};
  const problems: string[] = [];
  const check = (what: string, feature: string | undefined) => {
    if (feature !== undefined && !(feature in declared)) problems.push(`plugin ${m.name}: ${what} belongs to feature "${feature}", which the manifest does not declare`);
  };
  for (const [name, f] of Object.entries(declared)) {
    for (const r of f.requires ?? []) if (!(r in declared)) problems.push(`plugin ${m.name}: feature "${name}" requires "${r}", which the manifest does not declare`);
  }
  for (const t of m.tables ?? []) {
    check(`table ${t.table.schema}.${t.table.name}`, t.feature);
    for (const e of t.event_triggers ?? []) check(`event trigger ${e.name}`, e.feature);
  }
  for (const [name, a] of Object.entries(m.actions ?? {})) check(`action ${name}`, a.feature);
  for (const [name, c] of Object.entries(m.crons ?? {})) check(`cron trigger ${name}`, c.feature);
  for (const f of m.functions ?? []) check(`function ${f.function.schema}.${f.function.name}`, f.feature);
  if (m.remoteSchema) check('remote schema', m.remoteSchema.feature);
  for (const s of m.services ?? []) check(`service ${s.name}`, s.feature);
  for (const j of m.jobs ?? []) check(`job ${j.name}`, j.feature);
  for (const [key, schema] of Object.entries((m.config?.shape ?? {}) as Record<string, z.ZodType>)) check(`setting ${key}`, settingFeature(schema));
  return problems;
}

/**
 * `config` without the settings `keys`. zod refuses `.omit()` on an object with refinements (cross-setting
 * checks such as "B is required with A"), so those are carried over onto the smaller object: a refinement
 * must therefore cope with the settings of a switched-off feature being absent.
 */
function withoutSettings<C extends z.ZodObject>(config: C, keys: readonly string[]): C {
  const checks = config._zod.def.checks ?? [];
  if (!checks.length) return config.omit(Object.fromEntries(keys.map((k) => [k, true])) as never) as unknown as C;
  const shape: Record<string, z.ZodType> = { ...(config.shape as Record<string, z.ZodType>) };
  for (const k of keys) delete shape[k];
  return zod.object(shape).check(...(checks as z.core.$ZodCheck<Record<string, unknown>>[])) as unknown as C;
}

const active = new WeakMap<PluginManifest<any>, ReadonlySet<string>>();

/** The features on in a manifest returned by `withFeatures`; for any other manifest, its defaults. */
export function activeFeatures(m: PluginManifest<any>): ReadonlySet<string> {
  return active.get(m) ?? new Set(defaultFeatures(m));
}

/**
 * `m` as it runs with exactly `features` on (they must be valid: see `parseFeatures`). A manifest without
 * features comes back as it is.
 */
export function withFeatures<C extends z.ZodObject>(m: PluginManifest<C>, features: readonly string[]): PluginManifest<C> {
  const on = new Set(features);
  if (!m.features || Object.keys(m.features).length === 0) {
    active.set(m, on);
    return m;
  }
  const keep = (x: { feature?: string | undefined }) => x.feature === undefined || on.has(x.feature);
  const tables: TableSpec[] | undefined = m.tables
    ?.filter(keep)
    .map((t) => (t.event_triggers ? { ...t, event_triggers: t.event_triggers.filter(keep) } : t));
  const entries = <V extends { feature?: string | undefined }>(r: Record<string, V> | undefined) =>
    r ? Object.fromEntries(Object.entries(r).filter(([, v]) => keep(v))) : undefined;

  let config = m.config;
  if (config) {
    const off = Object.entries(config.shape as Record<string, z.ZodType>)
      .filter(([, s]) => {
        const f = settingFeature(s);
        return f !== undefined && !on.has(f);
      })
      .map(([k]) => k);
    if (off.length) config = withoutSettings(config, off);
  }

  const out: PluginManifest<C> = {
    ...m,
    ...(tables ? { tables } : {}),
    ...(m.actions ? { actions: entries(m.actions)! } : {}),
    ...(m.crons ? { crons: entries(m.crons)! } : {}),
    ...(m.functions ? { functions: m.functions.filter(keep) } : {}),
    ...(m.services ? { services: m.services.filter(keep) } : {}),
    ...(m.jobs ? { jobs: m.jobs.filter(keep) } : {}),
    ...(config ? { config } : {}),
  };
  if (m.remoteSchema && !keep(m.remoteSchema)) delete out.remoteSchema;
  active.set(out, on);
  return out;
}
