/**
 * Install options and project triggers: a plugin's choices made at install time (`--engine meilisearch
 * --index a,b`) and the event triggers it puts on the user's own tables because of them.
 *
 * Options are stored as the plugin settings they name (the server reads the same values). Project triggers
 * are rendered exactly like the plugin's own triggers (webhook under `{{NSELF_PLUGINS_URL}}`, the shared
 * secret header), except that the route names the plugin: `/events/<plugin>/<handler>`, which is also how
 * the Metadata API path recognises the triggers a plugin owns on tables it does not own.
 */
import type { z } from 'zod';
import type { InstallOptionSpec, PluginManifest, ProjectTrigger } from '../core/plugin.js';
import { DEFAULT_EVENT_RETRY, MAX_TRIGGER_NAME, PLUGINS_URL_TEMPLATE, SECRET_HEADERS } from './fragment.js';
import { applyOp, type Op } from './merge.js';
import { stableJson } from './yaml-io.js';
import type { EventTriggerJson, HasuraMetadata, QualifiedTable, TableEntry } from './types.js';

export class InstallOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstallOptionError';
  }
}

const OPTION_NAME = /^[a-z][a-z0-9-]*$/;
const HANDLER_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const HASURA_TRIGGER_NAME = /^[A-Za-z]+[A-Za-z0-9_-]*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** `--name value` / `--name=value` pairs as given on the command line. */
export interface GivenOption {
  name: string;
  value: string;
}

/** Mistakes in a manifest's `install` block (the plugin author's). */
export function installSpecProblems(m: PluginManifest<any>): string[] {
  const spec = m.install;
  if (!spec) return [];
  const P = `plugin ${m.name}`;
  const problems: string[] = [];
  const shape = (m.config?.shape ?? {}) as Record<string, z.ZodType>;
  const settings = new Set<string>();
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    if (!OPTION_NAME.test(name)) problems.push(`${P}: install option ${name} must be lower kebab-case`);
    if (!(o.setting in shape)) problems.push(`${P}: install option ${name} names setting ${o.setting}, which the plugin's config does not declare`);
    if (settings.has(o.setting)) problems.push(`${P}: two install options store setting ${o.setting}`);
    settings.add(o.setting);
    for (const value of o.values ?? []) {
      for (const needed of o.settings?.(value) ?? []) {
        if (!(needed in shape)) problems.push(`${P}: install option ${name} ${value} needs setting ${needed}, which the plugin's config does not declare`);
      }
    }
  }
  for (const name of Object.keys(spec.eventHandlers ?? {})) {
    if (!HANDLER_NAME.test(name)) problems.push(`${P}: project event handler ${name} must be snake_case`);
    if (typeof spec.eventHandlers![name]!.handler !== 'function') problems.push(`${P}: project event handler ${name} is not a function`);
  }
  if (spec.projectTriggers && !Object.keys(spec.eventHandlers ?? {}).length) problems.push(`${P}: projectTriggers needs at least one install.eventHandlers entry`);
  return problems;
}

function normalise(spec: InstallOptionSpec, value: string): string {
  if (!spec.list) return value.trim();
  return [...new Set(value.split(',').map((s) => s.trim()).filter(Boolean))].join(',');
}

/**
 * Assigns the options given on the command line to the selected plugins declaring them. An option no selected
 * plugin declares, or one two of them declare, is an error naming the declared options.
 */
export function assignOptions(manifests: readonly PluginManifest<any>[], given: readonly GivenOption[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const declared = manifests.flatMap((m) => Object.keys(m.install?.options ?? {}).map((o) => ({ plugin: m.name, option: o })));
  const list = declared.map((d) => `--${d.option} (${d.plugin})`).join(', ') || 'none';
  for (const g of given) {
    const owners = declared.filter((d) => d.option === g.name);
    if (owners.length === 0) throw new InstallOptionError(`unknown option --${g.name}; the plugins being installed declare: ${list}`);
    if (owners.length > 1) throw new InstallOptionError(`option --${g.name} is declared by ${owners.map((o) => o.plugin).join(' and ')}; install them one at a time`);
    const m = manifests.find((x) => x.name === owners[0]!.plugin)!;
    const spec = m.install!.options![g.name]!;
    const value = normalise(spec, g.value);
    if (spec.values && value !== '') {
      const unknown = (spec.list ? value.split(',') : [value]).filter((v) => !spec.values!.includes(v));
      if (unknown.length) throw new InstallOptionError(`--${g.name}: unknown ${unknown.join(', ')}; choose from ${spec.values.join(', ')}`);
    }
    const schema = (m.config!.shape as Record<string, z.ZodType>)[spec.setting]!;
    if (value !== '') {
      const r = schema.safeParse(value);
      if (!r.success) throw new InstallOptionError(`--${g.name} ${JSON.stringify(g.value)}: ${r.error.issues.map((i) => i.message).join('; ')}`);
    }
    const rec = out.get(m.name) ?? {};
    if (g.name in rec) throw new InstallOptionError(`option --${g.name} is given twice`);
    rec[g.name] = value;
    out.set(m.name, rec);
  }
  return out;
}

/**
 * The stored options of a plugin after an install: those given now replace the recorded ones option by
 * option; an empty value clears an option (back to the setting's default).
 */
export function mergeOptions(previous: Readonly<Record<string, string>> | undefined, given: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = { ...(previous ?? {}) };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** `setting → value` lines of the stored options (for the env block). */
export function optionSettingValues(m: PluginManifest<any>, options: Readonly<Record<string, string>>): Array<{ key: string; value: string; description: string }> {
  return Object.entries(m.install?.options ?? {})
    .filter(([name]) => options[name] !== undefined)
    .map(([name, spec]) => ({ key: spec.setting, value: options[name]!, description: spec.description }));
}

/** Settings the stored options need (`InstallOptionSpec.settings`), in order, without repeats. */
export function optionNeededSettings(m: PluginManifest<any>, options: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(m.install?.options ?? {})) {
    const value = options[name];
    if (value === undefined || value === '' || !spec.settings) continue;
    for (const key of spec.settings(value)) if (!out.includes(key)) out.push(key);
  }
  return out;
}

/** The option settings parsed by the plugin's config schema; an option not given has the setting's default. */
export function optionSettings(m: PluginManifest<any>, options: Readonly<Record<string, string>>): Record<string, unknown> {
  const shape = (m.config?.shape ?? {}) as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(m.install?.options ?? {})) {
    const schema = shape[spec.setting];
    if (!schema) continue;
    const r = schema.safeParse(options[name]);
    if (r.success) out[spec.setting] = r.data;
  }
  return out;
}

/** Install options read back from an environment (what `apply` and the server see). */
export function optionsFromEnv(m: PluginManifest<any>, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(m.install?.options ?? {})) {
    const v = env[spec.setting];
    if (v !== undefined && v !== '') out[name] = normalise(spec, v);
  }
  return out;
}

/** Where Hasura calls a project trigger's handler. */
export function projectTriggerWebhook(plugin: string, handler: string): string {
  return `${PLUGINS_URL_TEMPLATE}/events/${plugin}/${handler}`;
}

/** Whether `trigger` is one of `plugin`'s project triggers (by its webhook). */
export function ownedProjectTrigger(plugin: string, trigger: { webhook?: unknown }): boolean {
  return typeof trigger.webhook === 'string' && trigger.webhook.startsWith(`${PLUGINS_URL_TEMPLATE}/events/${plugin}/`);
}

export interface RenderedTrigger {
  source: string;
  table: QualifiedTable;
  trigger: EventTriggerJson;
}

/** The project triggers of `m` for the stored options, as Hasura metadata; every problem reported at once. */
export function renderProjectTriggers(m: PluginManifest<any>, options: Readonly<Record<string, string>>, defaultSource: string): RenderedTrigger[] {
  const spec = m.install;
  if (!spec?.projectTriggers) return [];
  const P = `plugin ${m.name}`;
  const problems = installSpecProblems(m);
  let wanted: ProjectTrigger[];
  try {
    wanted = spec.projectTriggers(optionSettings(m, options));
  } catch (e) {
    throw new InstallOptionError(`${P}: ${(e as Error).message}`);
  }
  const out: RenderedTrigger[] = [];
  const names = new Set<string>();
  for (const t of wanted) {
    const tw = `${P}: project trigger ${t.name}`;
    if (!new RegExp(`^${m.name}_[a-z0-9]+(_[a-z0-9]+)*$`).test(t.name) || !HASURA_TRIGGER_NAME.test(t.name)) {
      problems.push(`${tw}: name must be snake_case and start with "${m.name}_"`);
    }
    if (t.name.length > MAX_TRIGGER_NAME) problems.push(`${tw}: name is ${t.name.length} characters; at most ${MAX_TRIGGER_NAME}`);
    if (names.has(t.name)) problems.push(`${tw} is declared twice`);
    names.add(t.name);
    if (!IDENT.test(t.table.schema) || !IDENT.test(t.table.name)) problems.push(`${tw}: table ${t.table.schema}.${t.table.name} is not a plain identifier`);
    if (t.table.schema === m.name) problems.push(`${tw}: table ${t.table.schema}.${t.table.name} is in the plugin's own schema; declare that trigger in tables`);
    if (!(t.handler in (spec.eventHandlers ?? {}))) {
      problems.push(`${tw}: handler ${t.handler} is not one of install.eventHandlers (${Object.keys(spec.eventHandlers ?? {}).join(', ') || 'none'})`);
    }
    if (!t.insert && !t.update && !t.delete && !t.enable_manual) problems.push(`${tw}: enable at least one of insert, update, delete, enable_manual`);
    for (const op of ['insert', 'update', 'delete'] as const) {
      const cols = t[op]?.columns;
      if (cols !== undefined && cols !== '*' && (!Array.isArray(cols) || cols.length === 0 || cols.some((c) => typeof c !== 'string' || !IDENT.test(c)))) {
        problems.push(`${tw}: ${op}.columns must be '*' or a non-empty list of column names`);
      }
    }
    const retry = { ...DEFAULT_EVENT_RETRY, ...(t.retry_conf ?? {}) } as Record<string, unknown>;
    for (const [k, v] of Object.entries(retry)) {
      if (!(k in DEFAULT_EVENT_RETRY)) problems.push(`${tw}: unknown retry_conf key ${k}`);
      else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) problems.push(`${tw}: retry_conf.${k} must be a non-negative integer`);
    }
    out.push({
      source: t.source ?? defaultSource,
      table: { schema: t.table.schema, name: t.table.name },
      trigger: {
        name: t.name,
        definition: {
          enable_manual: t.enable_manual ?? false,
          ...(t.insert ? { insert: { columns: copyColumns(t.insert.columns) } } : {}),
          ...(t.update ? { update: { columns: copyColumns(t.update.columns) } } : {}),
          ...(t.delete ? { delete: { columns: copyColumns(t.delete.columns) } } : {}),
        },
        retry_conf: retry as EventTriggerJson['retry_conf'],
        webhook: projectTriggerWebhook(m.name, t.handler),
        headers: SECRET_HEADERS.map((h) => ({ ...h })),
      },
    });
  }
  if (problems.length) throw new InstallOptionError(problems.length === 1 ? problems[0]! : `invalid project triggers:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return out;
}

function copyColumns(c: '*' | string[]): '*' | string[] {
  return c === '*' ? '*' : [...c];
}

/** Where a trigger of that name already is in `md`'s source (any table), if anywhere. */
export function findTrigger(md: HasuraMetadata, source: string, name: string): { table: QualifiedTable; trigger: EventTriggerJson } | undefined {
  for (const t of md.sources.find((s) => s.name === source)?.tables ?? []) {
    const trig = (t.event_triggers ?? []).find((e) => e.name === name);
    if (trig) return { table: t.table, trigger: trig };
  }
  return undefined;
}

/** `--name value` and `--name=value` tokens out of a command's operands; the rest are the operands. */
export function splitOptionTokens(tokens: readonly string[]): { operands: string[]; options: GivenOption[] } {
  const operands: string[] = [];
  const options: GivenOption[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith('--')) {
      operands.push(t);
      continue;
    }
    const eq = t.indexOf('=');
    const name = eq === -1 ? t.slice(2) : t.slice(2, eq);
    if (!OPTION_NAME.test(name)) throw new InstallOptionError(`unknown option ${t}`);
    if (eq !== -1) options.push({ name, value: t.slice(eq + 1) });
    else {
      const value = tokens[i + 1];
      if (value === undefined || value.startsWith('--')) throw new InstallOptionError(`option --${name} needs a value`);
      options.push({ name, value });
      i++;
    }
  }
  return { operands, options };
}

/* ------------------------------------------------------------------ planning against a project's metadata */

/** What the installer records of each project trigger it added, to take exactly that out again. */
export interface ProjectTriggerRecord {
  source: string;
  table: QualifiedTable;
  name: string;
  /** The table was not tracked: the installer tracked it for the trigger, and untracks it with the last one. */
  createdTable?: boolean;
}

const key = (t: QualifiedTable) => `${t.schema}.${t.name}`;

function bare(entry: TableEntry): boolean {
  return Object.keys(entry).every((k) => k === 'table' || (k === 'event_triggers' && !(entry.event_triggers ?? []).length));
}

/**
 * Ops that take the project from the `recorded` triggers of `plugin` to exactly `wanted`: identical triggers
 * stay untouched, changed ones are replaced, the rest dropped. A wanted name that some other trigger of the
 * project already has is a conflict (reported, nothing planned for it).
 */
export function planProjectTriggers(
  md: HasuraMetadata,
  plugin: string,
  recorded: readonly ProjectTriggerRecord[],
  wanted: readonly RenderedTrigger[],
): { ops: Op[]; records: ProjectTriggerRecord[]; problems: string[] } {
  const current = structuredClone(md);
  const ops: Op[] = [];
  const problems: string[] = [];
  const records: ProjectTriggerRecord[] = [];
  const wantedByName = new Map(wanted.map((w) => [w.trigger.name, w]));
  const createdTables = new Set(recorded.filter((r) => r.createdTable).map((r) => `${r.source}/${key(r.table)}`));
  const kept = new Set<string>();

  const drops: Op[] = [];
  for (const r of recorded) {
    const existing = findTrigger(current, r.source, r.name);
    if (!existing || key(existing.table) !== key(r.table)) continue; // removed by hand: nothing to take out
    const w = wantedByName.get(r.name);
    if (w && w.source === r.source && key(w.table) === key(r.table) && stableJson(w.trigger) === stableJson(existing.trigger)) {
      kept.add(r.name);
      continue;
    }
    drops.push({ op: 'drop_event_trigger', source: r.source, table: { ...r.table }, name: r.name });
  }
  for (const op of drops) applyOp(current, op);

  const adds: Op[] = [];
  const newTables = new Map<string, { source: string; entry: TableEntry }>();
  for (const w of wanted) {
    if (kept.has(w.trigger.name)) continue;
    const clash = findTrigger(current, w.source, w.trigger.name);
    if (clash) {
      problems.push(`plugin ${plugin}: event trigger ${w.trigger.name} already exists on table ${key(clash.table)}; rename or delete it first`);
      continue;
    }
    const source = current.sources.find((s) => s.name === w.source);
    if (!source) {
      problems.push(`plugin ${plugin}: project trigger ${w.trigger.name} is for database ${w.source}, which the project does not have`);
      continue;
    }
    const tracked = source.tables.find((t) => key(t.table) === key(w.table));
    const tk = `${w.source}/${key(w.table)}`;
    if (tracked) {
      const op: Op = { op: 'add_event_trigger', source: w.source, table: { ...w.table }, trigger: w.trigger };
      adds.push(op);
      applyOp(current, op);
    } else {
      const pending = newTables.get(tk) ?? { source: w.source, entry: { table: { ...w.table }, event_triggers: [] } };
      pending.entry.event_triggers!.push(w.trigger);
      newTables.set(tk, pending);
      createdTables.add(tk);
    }
  }
  for (const { source, entry } of newTables.values()) {
    const op: Op = { op: 'add_table', source, table: entry, plugin };
    adds.push(op);
    applyOp(current, op);
  }

  // A table tracked only for this plugin's triggers goes with its last one (its trigger drops go with it).
  const untrack = new Set<string>();
  for (const tk of createdTables) {
    const [source, qualified] = [tk.slice(0, tk.indexOf('/')), tk.slice(tk.indexOf('/') + 1)];
    const entry = current.sources.find((s) => s.name === source)?.tables.find((t) => key(t.table) === qualified);
    if (entry && bare(entry)) untrack.add(tk);
  }
  for (const op of drops) {
    if (op.op === 'drop_event_trigger' && untrack.has(`${op.source}/${key(op.table)}`)) continue;
    ops.push(op);
  }
  for (const tk of untrack) {
    const source = tk.slice(0, tk.indexOf('/'));
    const [schema, name] = tk.slice(tk.indexOf('/') + 1).split('.') as [string, string];
    ops.push({ op: 'drop_table', source, table: { schema, name } });
  }
  ops.push(...adds);

  for (const w of wanted) {
    const tk = `${w.source}/${key(w.table)}`;
    if (problems.length) break;
    records.push({ source: w.source, table: { ...w.table }, name: w.trigger.name, ...(createdTables.has(tk) && !untrack.has(tk) ? { createdTable: true } : {}) });
  }
  return { ops, records, problems };
}
