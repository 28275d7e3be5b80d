/**
 * Which plugins run: `PLUGINS_ENABLED` resolved against the catalogue, dependencies checked and ordered
 * first, and the Hasura names every plugin claims checked for collisions (they share one namespace per kind
 * in Hasura and one route namespace here).
 */
import type { ActionSpec, CronSpec, EventTriggerSpec, PluginManifest, ProjectEventHandlerSpec } from './plugin.js';

export class RegistryError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `plugin registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RegistryError';
  }
}

const PLUGIN_NAME = /^[a-z][a-z0-9_]*$/;

/** Manifest mistakes that are the plugin author's, not the operator's. */
function manifestProblems(plugins: readonly PluginManifest[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of plugins) {
    if (!PLUGIN_NAME.test(p.name)) problems.push(`plugin name "${p.name}" must be lower snake_case (it is a PostgreSQL schema)`);
    if (seen.has(p.name)) problems.push(`plugin "${p.name}" is listed twice`);
    seen.add(p.name);
    const prefix = p.name.toUpperCase() + '_';
    for (const key of Object.keys(p.config?.shape ?? {})) {
      if (!key.startsWith(prefix)) problems.push(`plugin "${p.name}": setting ${key} must start with ${prefix}`);
    }
  }
  return problems;
}

/**
 * The enabled plugins, dependencies before dependants (catalogue order otherwise).
 * `enabled` undefined means every plugin in `available`.
 */
export function resolvePlugins(available: readonly PluginManifest[], enabled?: readonly string[]): PluginManifest[] {
  const problems = manifestProblems(available);
  const byName = new Map(available.map((p) => [p.name, p]));
  const known = available.map((p) => p.name).join(', ') || '(none)';

  const wanted: PluginManifest[] = [];
  for (const name of enabled ?? available.map((p) => p.name)) {
    const p = byName.get(name);
    if (!p) problems.push(`unknown plugin "${name}" in PLUGINS_ENABLED; known plugins: ${known}`);
    else if (!wanted.includes(p)) wanted.push(p);
  }
  const wantedNames = new Set(wanted.map((p) => p.name));
  for (const p of wanted) {
    for (const dep of p.dependsOn ?? []) {
      if (wantedNames.has(dep)) continue;
      problems.push(
        byName.has(dep)
          ? `plugin "${p.name}" depends on plugin "${dep}", which is not enabled; add it to PLUGINS_ENABLED`
          : `plugin "${p.name}" depends on plugin "${dep}", which does not exist; known plugins: ${known}`,
      );
    }
  }
  if (problems.length) throw new RegistryError(problems);

  // Depth-first topological order; a cycle is a manifest bug worth naming in full.
  const ordered: PluginManifest[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: PluginManifest, path: string[]): void => {
    const s = state.get(p.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      problems.push(`plugin dependency cycle: ${[...path.slice(path.indexOf(p.name)), p.name].join(' -> ')}`);
      return;
    }
    state.set(p.name, 'visiting');
    for (const dep of p.dependsOn ?? []) visit(byName.get(dep)!, [...path, p.name]);
    // Optional dependencies start first when they are enabled at all.
    for (const dep of p.optionalDependsOn ?? []) if (wantedNames.has(dep)) visit(byName.get(dep)!, [...path, p.name]);
    state.set(p.name, 'done');
    ordered.push(p);
  };
  for (const p of wanted) visit(p, []);
  if (problems.length) throw new RegistryError(problems);

  const clashes = nameClashes(ordered);
  if (clashes.length) throw new RegistryError(clashes);
  return ordered;
}

export interface HandlerEntry<S> {
  plugin: PluginManifest;
  name: string;
  spec: S;
}

export interface HandlerTables {
  actions: Map<string, HandlerEntry<ActionSpec>>;
  events: Map<string, HandlerEntry<EventTriggerSpec>>;
  crons: Map<string, HandlerEntry<CronSpec>>;
  /** Handlers of project triggers (`install.eventHandlers`), keyed `<plugin>/<handler>` like their route. */
  projectEvents: Map<string, HandlerEntry<ProjectEventHandlerSpec>>;
}

function collect(plugins: readonly PluginManifest[], problems: string[]): HandlerTables {
  const tables: HandlerTables = { actions: new Map(), events: new Map(), crons: new Map(), projectEvents: new Map() };
  const add = <S>(map: Map<string, HandlerEntry<S>>, what: string, plugin: PluginManifest, name: string, spec: S) => {
    const prev = map.get(name);
    if (prev) problems.push(`${what} "${name}" is declared by plugin "${prev.plugin.name}" and by plugin "${plugin.name}"`);
    else map.set(name, { plugin, name, spec });
  };
  for (const p of plugins) {
    for (const [name, spec] of Object.entries(p.actions ?? {})) add(tables.actions, 'action', p, name, spec);
    for (const t of p.tables ?? []) for (const trig of t.event_triggers ?? []) add(tables.events, 'event trigger', p, trig.name, trig);
    for (const [name, spec] of Object.entries(p.crons ?? {})) add(tables.crons, 'cron trigger', p, name, spec);
    for (const [name, spec] of Object.entries(p.install?.eventHandlers ?? {})) add(tables.projectEvents, 'project event handler', p, `${p.name}/${name}`, spec);
  }
  return tables;
}

function nameClashes(plugins: readonly PluginManifest[]): string[] {
  const problems: string[] = [];
  collect(plugins, problems);
  return problems;
}

/** name → handler lookup tables per kind, built once at boot. */
export function handlerTables(plugins: readonly PluginManifest[]): HandlerTables {
  const problems: string[] = [];
  const tables = collect(plugins, problems);
  if (problems.length) throw new RegistryError(problems);
  return tables;
}
