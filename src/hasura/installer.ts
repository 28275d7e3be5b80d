/**
 * `nself-plugins install|remove`: plugins into and out of a user's Hasura CLI v3 project.
 *
 * One pass reads the project, plans with the shared merge planner, edits the metadata files, copies
 * migrations, appends settings to `.env`/`.env.example` beside the project and records what it added in
 * `nself-plugins.json`; everything is committed at the end or not at all.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, posix, relative, resolve } from 'node:path';
import {
  checkFragmentsTogether,
  FOUNDATION,
  foundationMigrations,
  fragmentFromCatalog,
  markerFor,
  SECRET_ENV,
  type CatalogEntry,
  type PluginCatalog,
} from './fragment.js';
import { FileSet } from './files.js';
import { lockProject, lockProjectSync } from './project-lock.js';
import { applyOp, markedPlugins, planInstall, planRemove, type Op, type PluginChange } from './merge.js';
import { applyOpsToProject, EMPTY_ACTIONS_YAML, readProject, type Project } from './project.js';
import {
  copyMigrations,
  databaseAppliedCheck,
  existingVersions,
  installedHeader,
  VersionAllocator,
  writeUninstallMigration,
} from './project-migrations.js';
import { appendEnvBlock, envKeys, envValue, pluginSettings, removeEnvBlock, setEnvValue, type EnvLine, type EnvSetting } from './env-file.js';
import { declaredFeatures, defaultFeatures, featureSelectionProblems, featuresKey, withFeatures } from '../core/features.js';
import { featuresDescription } from '../core/config.js';
import type { Fragment, HasuraMetadata, MigrationFiles } from './types.js';
import {
  assignOptions,
  InstallOptionError,
  mergeOptions,
  optionNeededSettings,
  optionSettingValues,
  planProjectTriggers,
  renderProjectTriggers,
  type GivenOption,
  type ProjectTriggerRecord,
} from './project-triggers.js';

const { join } = posix;

export const STATE_FILE = 'nself-plugins.json';

export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstallError';
  }
}

/* ------------------------------------------------------------------ state file */

interface EnvRecord {
  /** Title line of the appended block and a hash of the block, per file (`.env`, `.env.example`). */
  [file: string]: { title: string; hash: string; keys: string[] };
}

interface PluginRecord {
  version: string;
  features: string[];
  migrations: string[];
  env: EnvRecord;
  /** Install options given (`--index a,b`), by option name; stored in the env block as their settings. */
  options?: Record<string, string>;
  /** Triggers the plugin put on the project's own tables. */
  projectTriggers?: ProjectTriggerRecord[];
}

export interface InstallState {
  source: string;
  /** Metadata files the installer created (deleted again, when back to empty, with the last plugin). */
  created: string[];
  createdSource: boolean;
  foundation: { migrations: string[]; env: EnvRecord };
  plugins: Record<string, PluginRecord>;
}

const STATE_NOTE =
  'Written by nself-plugins install/remove: what the installer added to this project, so that remove takes exactly that back out. Do not edit.';

export interface InstalledPlugin {
  version: string;
  features: string[];
  options: Record<string, string>;
  projectTriggers: ProjectTriggerRecord[];
}

/** The plugins recorded as installed in a project, with their version, features, options and project triggers. */
export function installedPlugins(projectDir: string): Map<string, InstalledPlugin> {
  const state = readState(new FileSet(resolve(projectDir)));
  return new Map(
    Object.entries(state?.plugins ?? {}).map(([name, r]) => [
      name,
      { version: r.version, features: [...r.features], options: { ...(r.options ?? {}) }, projectTriggers: structuredClone(r.projectTriggers ?? []) },
    ]),
  );
}

function readState(files: FileSet): InstallState | undefined {
  const text = files.read(STATE_FILE);
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as InstallState & { note?: string };
    if (!raw || typeof raw !== 'object' || typeof raw.plugins !== 'object') throw new Error('unexpected shape');
    return { source: raw.source, created: raw.created ?? [], createdSource: !!raw.createdSource, foundation: raw.foundation ?? { migrations: [], env: {} }, plugins: raw.plugins };
  } catch (e) {
    throw new InstallError(`${STATE_FILE} is not valid (${(e as Error).message}); restore it from version control`);
  }
}

function writeState(files: FileSet, state: InstallState): void {
  if (Object.keys(state.plugins).length === 0) {
    files.remove(STATE_FILE);
    return;
  }
  const sorted = Object.fromEntries(Object.entries(state.plugins).sort(([a], [b]) => a.localeCompare(b)));
  files.write(STATE_FILE, JSON.stringify({ note: STATE_NOTE, ...state, created: [...state.created].sort(), plugins: sorted }, null, 2) + '\n');
}

/* ------------------------------------------------------------------ selection */

/** The named plugins plus everything they depend on, dependencies first (catalogue order otherwise). */
export function resolveSelection(catalog: PluginCatalog, names: readonly string[]): CatalogEntry[] {
  const byName = new Map(catalog.plugins.map((p) => [p.manifest.name, p]));
  const known = catalog.plugins.map((p) => p.manifest.name).join(', ') || '(none)';
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length) throw new InstallError(`unknown plugin${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known plugins: ${known}`);
  const out: CatalogEntry[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    const entry = byName.get(name);
    if (!entry) throw new InstallError(`plugin ${path[path.length - 1]} depends on plugin ${name}, which does not exist; known plugins: ${known}`);
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new InstallError(`plugin dependency cycle: ${[...path, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const dep of entry.manifest.dependsOn ?? []) visit(dep, [...path, name]);
    state.set(name, 'done');
    out.push(entry);
  };
  const order = new Map(catalog.plugins.map((p, i) => [p.manifest.name, i]));
  for (const n of [...new Set(names)].sort((a, b) => order.get(a)! - order.get(b)!)) visit(n, []);
  return out;
}

/* ------------------------------------------------------------------ options */

export interface InstallOptions {
  projectDir: string;
  /** The project's files; default: read from `projectDir` on disk. An in-memory set is never committed. */
  files?: FileSet;
  catalog: PluginCatalog;
  plugins: readonly string[];
  /**
   * Feature flags, each either `feature` (every selected plugin that has it) or `plugin:feature`. A plugin
   * named here gets exactly these features; the others keep what they had (new ones: their defaults).
   */
  features?: readonly string[];
  /** Every feature of every selected plugin on (the suite's own composed project). */
  allFeatures?: boolean;
  /** Exactly these features for these plugins (e.g. what a running server has on), before any other rule. */
  featuresByPlugin?: ReadonlyMap<string, readonly string[]>;
  /** Hasura database the plugins go to; default: the one used before, else `default`. */
  source?: string;
  /** Folder of `.env`/`.env.example`; default: the project's parent. `null`: leave env files alone. */
  envDir?: string | null;
  /** Values for required settings without defaults (from prompts); missing ones are written empty. */
  settings?: Readonly<Record<string, string>>;
  /**
   * Install options (`--engine meilisearch`), each for the selected plugin declaring it. Given ones replace the
   * recorded ones option by option (an empty value clears one); the others keep what they had.
   */
  options?: readonly GivenOption[];
  /** Plan and report without writing. */
  dryRun?: boolean;
  /** How long to wait while another install/remove holds the project (default 60 s). */
  lockWaitMs?: number;
}

export interface InstallResult {
  changes: PluginChange[];
  ops: Op[];
  migrations: string[];
  env: Array<{ file: string; keys: string[] }>;
  /** Required settings written without a value. */
  missing: string[];
  /** Paths (relative to the project) written or deleted. */
  files: string[];
  notes: string[];
}

function pickSource(project: Project, state: InstallState | undefined, wanted?: string): string {
  if (wanted) return wanted;
  if (state?.source) return state.source;
  const names = project.metadata.sources.map((s) => s.name);
  if (names.includes('default')) return 'default';
  const pg = project.metadata.sources.filter((s) => s.kind === 'postgres' || s.kind === 'pg');
  if (pg.length === 1) return pg[0]!.name;
  return 'default';
}

/** Features named on the command line per plugin (`feature` applies to every selected plugin offering it). */
function featuresFor(entries: readonly CatalogEntry[], features: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of features) {
    const [plugin, name] = f.includes(':') ? (f.split(':', 2) as [string, string]) : [undefined, f];
    const targets = entries.filter((e) => (plugin ? e.manifest.name === plugin : true) && e.manifest.features?.[name] !== undefined);
    if (targets.length === 0) {
      const offered = entries.flatMap((e) => Object.keys(e.manifest.features ?? {}).map((x) => `${e.manifest.name}:${x}`));
      throw new InstallError(`unknown feature ${f}; available: ${offered.join(', ') || '(none)'}`);
    }
    for (const t of targets) {
      const list = out.get(t.manifest.name) ?? [];
      if (!list.includes(name)) list.push(name);
      out.set(t.manifest.name, list.sort());
    }
  }
  return out;
}

/**
 * The features each selected plugin goes in with, checked (unknown names, unmet `requires`): those named in
 * `requested` for the plugins named there, else what `previous` says (what is installed), else the defaults.
 */
export function featureSelection(
  entries: readonly CatalogEntry[],
  requested: readonly string[],
  previous: (plugin: string) => readonly string[] | undefined,
  all = false,
): Map<string, string[]> {
  const named = featuresFor(entries, requested);
  const out = new Map<string, string[]>();
  const problems: string[] = [];
  for (const e of entries) {
    const m = e.manifest;
    const chosen = all ? declaredFeatures(m) : (named.get(m.name) ?? previous(m.name) ?? defaultFeatures(m));
    // A recorded feature the plugin no longer has (an older version) is dropped rather than refused.
    const features = chosen.filter((f) => f in (m.features ?? {})).sort();
    problems.push(...featureSelectionProblems(m, features));
    out.set(m.name, features);
  }
  if (problems.length) throw new InstallError(problems.join('; '));
  return out;
}

/** Names of migrations present after the owner's last uninstall migration. */
function presentMigrationNames(files: FileSet, dir: string): Set<string> {
  const folders = files.list(dir).map((n) => /^(\d+)_(.+)$/.exec(n)).filter((m): m is RegExpExecArray => !!m);
  const lastUninstall = new Map<string, bigint>();
  for (const m of folders) {
    const u = /^(.+)_uninstall$/.exec(m[2]!);
    if (u) lastUninstall.set(u[1]!, BigInt(m[1]!) > (lastUninstall.get(u[1]!) ?? -1n) ? BigInt(m[1]!) : lastUninstall.get(u[1]!)!);
  }
  const out = new Set<string>();
  for (const m of folders) {
    const name = m[2]!;
    const after = [...lastUninstall].every(([owner, v]) => !name.startsWith(owner + '_') || BigInt(m[1]!) > v);
    if (after) out.add(name);
  }
  return out;
}

function envLinesFor(settings: readonly EnvSetting[], values: Readonly<Record<string, string>>, forExample: boolean): { lines: EnvLine[]; missing: string[] } {
  const lines: EnvLine[] = [];
  const missing: string[] = [];
  for (const s of settings) {
    const flags = [s.secret ? 'secret' : '', s.required ? 'required' : '', s.default !== undefined ? `default: ${s.default}` : ''].filter(Boolean);
    const comment = [s.description, flags.length ? `(${flags.join('; ')})` : ''].filter(Boolean).join('\n');
    if (forExample) {
      lines.push({ key: s.key, value: s.required || s.secret ? '' : (s.default ?? ''), ...(comment ? { comment } : {}), commented: !s.required });
      continue;
    }
    // .env holds only what must be set; defaults stay defaults (a later release may improve them).
    if (!s.required) continue;
    const v = values[s.key];
    if (v === undefined || v === '') missing.push(s.key);
    lines.push({ key: s.key, value: v ?? '', ...(comment ? { comment } : {}) });
  }
  return { lines, missing };
}

function foundationEnv(forExample: boolean): EnvLine[] {
  return [
    {
      key: 'NSELF_PLUGINS_URL',
      value: 'http://localhost:3100',
      comment: 'Where Hasura reaches the nself-plugins handler server (the metadata uses {{NSELF_PLUGINS_URL}}).\nFrom Hasura in Docker on the same host: http://host.docker.internal:3100',
    },
    {
      key: SECRET_ENV,
      value: forExample ? '' : randomBytes(24).toString('hex'),
      comment: 'Shared secret Hasura sends to the handler server (x-nself-plugins-secret); set the same value for both.\n(secret; required)',
    },
  ];
}

function addEnv(
  files: FileSet,
  envRel: (f: string) => string,
  title: string,
  perFile: Record<string, EnvLine[]>,
  record: EnvRecord,
  result: InstallResult,
): void {
  for (const [file, lines] of Object.entries(perFile)) {
    if (record[file]) continue;
    const rel = envRel(file);
    const before = files.read(rel) ?? '';
    const r = appendEnvBlock(before, { title, lines });
    if (!r.hash) continue;
    // .env holds secrets (the webhook secret, plugins' keys): created owner-only; an existing one keeps its mode.
    const secretFile = file === '.env';
    files.write(rel, r.text, secretFile ? { mode: 0o600 } : {});
    const mode = secretFile ? files.mode(rel) : undefined;
    const secrets = lines.filter((l) => r.keys.includes(l.key) && /\(secret\b/.test(l.comment ?? '')).map((l) => l.key);
    if (mode !== undefined && mode & 0o077 && secrets.length) {
      result.notes.push(`${rel} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}) and now holds ${secrets.join(', ')}; consider: chmod 600 ${rel}`);
    }
    record[file] = { title, hash: r.hash, keys: r.keys };
    result.env.push({ file: rel, keys: r.keys });
  }
}

const stableKey = (list: readonly string[]) => [...list].sort().join(',');

/**
 * The features of an installed plugin changed: its block is written anew (another feature may need other
 * settings). A block the user edited stays; only its `<PLUGIN>_FEATURES` line changes, and the settings the
 * new features need are listed for them to add.
 */
function refreshEnv(
  files: FileSet,
  envRel: (f: string) => string,
  title: string,
  perFile: Record<string, EnvLine[]>,
  record: EnvRecord,
  result: InstallResult,
  sets: ReadonlyArray<{ key: string; value: string }>,
): void {
  for (const [file, lines] of Object.entries(perFile)) {
    const rec = record[file];
    const rel = envRel(file);
    const text = files.read(rel);
    if (!rec || text === undefined) continue;
    const removed = removeEnvBlock(text, rec.title, rec.hash);
    if (removed.removed) {
      // Written anew below, with the settings of the features now on.
      files.write(rel, removed.text);
      delete record[file];
      continue;
    }
    if (file === '.env') {
      let current = text;
      const said: string[] = [];
      for (const { key, value } of sets) {
        const set = setEnvValue(current, key, value, { title: rec.title, hash: rec.hash });
        current = set.text;
        if (set.hash) rec.hash = set.hash;
        said.push(set.changed ? `${key} is now ${value}` : `set ${key}=${value} there by hand`);
      }
      if (current !== text) files.write(rel, current);
      const present = envKeys(current);
      const missing = lines.filter((l) => !l.commented && !present.has(l.key)).map((l) => l.key);
      result.notes.push(`${rel}: the block "${rec.title}" was edited, so it stays; ` + said.join(', ') + (missing.length ? `; also add ${missing.join(', ')}` : ''));
    }
  }
  addEnv(files, envRel, title, perFile, record, result);
}

function dropEnv(files: FileSet, envRel: (f: string) => string, record: EnvRecord, notes: string[]): void {
  for (const [file, rec] of Object.entries(record)) {
    const rel = envRel(file);
    const text = files.read(rel);
    if (text === undefined) continue;
    const r = removeEnvBlock(text, rec.title, rec.hash);
    if (r.removed) {
      if (r.text === '') files.remove(rel);
      else files.write(rel, r.text);
    } else notes.push(`${rel}: the block "${rec.title}" was edited, so it stays (${rec.keys.join(', ')}); delete it by hand if it is no longer needed`);
  }
}

function fragmentsOf(catalog: PluginCatalog, entries: readonly CatalogEntry[], features?: ReadonlyMap<string, readonly string[]>): Fragment[] {
  const fragments = entries.map((e) => fragmentFromCatalog(catalog, e, features?.get(e.manifest.name)));
  checkFragmentsTogether(fragments);
  return fragments;
}

function emptyState(source: string): InstallState {
  return { source, created: [], createdSource: false, foundation: { migrations: [], env: {} }, plugins: {} };
}

function keepDirs(project: Project, source: string): string[] {
  return [project.metadataDir, join(project.metadataDir, 'databases'), project.migrationsDir, join(project.migrationsDir, source)];
}

/* ------------------------------------------------------------------ install */

/** Installs holding the project's lock (see project-lock.ts); an in-memory project needs none. */
export function install(opts: InstallOptions): InstallResult {
  if (opts.files) return installUnlocked(opts);
  const held = lockProjectSync(resolve(opts.projectDir), `install ${opts.plugins.join(' ')}`, opts.lockWaitMs);
  try {
    return installUnlocked(opts);
  } finally {
    held?.release();
  }
}

function installUnlocked(opts: InstallOptions): InstallResult {
  const projectDir = resolve(opts.projectDir);
  const files = opts.files ?? new FileSet(projectDir);
  const project = readProject(files);
  const prior = readState(files);
  const source = pickSource(project, prior, opts.source);
  if (prior && opts.source && prior.source !== opts.source) {
    throw new InstallError(`plugins of this project live in database ${prior.source}; install more into the same database (--database ${prior.source})`);
  }
  const state = prior ?? emptyState(source);
  const entries = resolveSelection(opts.catalog, opts.plugins);
  const features = featureSelection(entries, opts.features ?? [], (p) => opts.featuresByPlugin?.get(p) ?? prior?.plugins[p]?.features, !!opts.allFeatures);
  let givenOptions: Map<string, Record<string, string>>;
  try {
    givenOptions = assignOptions(entries.map((e) => e.manifest), opts.options ?? []);
  } catch (e) {
    if (e instanceof InstallOptionError) throw new InstallError(e.message);
    throw e;
  }
  const fragments = fragmentsOf(opts.catalog, entries, features);
  const result: InstallResult = { changes: [], ops: [], migrations: [], env: [], missing: [], files: [], notes: [] };

  const hadSource = project.metadata.sources.some((s) => s.name === source);
  const plan = planInstall(project.metadata, fragments, {
    source,
    installedTablesOnly: new Set(Object.keys(state.plugins)),
    locate: (kind, name) => locate(project, kind, name, source),
  });
  applyOpsToProject(project, plan.ops);
  result.changes = plan.changes;
  result.ops = plan.ops;
  if (!hadSource && plan.ops.some((o) => o.op === 'add_source')) state.createdSource = true;

  // Triggers on the project's own tables, from each plugin's install options.
  const optionsOf = new Map<string, Record<string, string>>();
  const triggerRecords = new Map<string, ProjectTriggerRecord[]>();
  const triggerProblems: string[] = [];
  const afterPlan: HasuraMetadata = structuredClone(plan.metadata);
  for (const e of entries) {
    const name = e.manifest.name;
    const options = mergeOptions(state.plugins[name]?.options, givenOptions.get(name));
    optionsOf.set(name, options);
    let wanted;
    try {
      wanted = renderProjectTriggers(e.manifest, options, source);
    } catch (err) {
      if (err instanceof InstallOptionError) throw new InstallError(err.message);
      throw err;
    }
    const recorded = state.plugins[name]?.projectTriggers ?? [];
    if (!wanted.length && !recorded.length) continue;
    const p = planProjectTriggers(afterPlan, name, recorded, wanted);
    triggerProblems.push(...p.problems);
    if (p.problems.length) continue;
    applyOpsToProject(project, p.ops);
    for (const op of p.ops) applyOp(afterPlan, op);
    result.ops.push(...p.ops);
    triggerRecords.set(name, p.records);
    const change = result.changes.find((c) => c.plugin === name);
    if (p.ops.length && change?.status === 'unchanged') change.status = 'updated';
  }
  if (triggerProblems.length) throw new InstallError(triggerProblems.join('; '));

  // Migrations.
  const migDir = join(project.migrationsDir, source);
  const alloc = new VersionAllocator(existingVersions(files, migDir));
  const present = presentMigrationNames(files, migDir);
  const copy = (owner: string, marker: string, migrations: readonly MigrationFiles[]) => {
    const missing = migrations.filter((m) => !present.has(m.name));
    const written = copyMigrations(files, migDir, missing, alloc, installedHeader(owner, marker));
    result.migrations.push(...written);
    return written;
  };
  if (fragments.length) {
    const written = copy(FOUNDATION, markerFor(FOUNDATION, 'foundation'), foundationMigrations(opts.catalog));
    state.foundation.migrations.push(...written);
  }

  // Settings beside the project.
  const envDir = opts.envDir === undefined ? dirname(projectDir) : opts.envDir;
  const envRel = (f: string) => relative(projectDir, resolve(envDir ?? projectDir, f)).split('\\').join('/');
  if (envDir !== null && fragments.length) {
    addEnv(files, envRel, 'nself-plugins (added by `nself-plugins install`)', { '.env.example': foundationEnv(true), '.env': foundationEnv(false) }, state.foundation.env, result);
  }

  for (const f of fragments) {
    const entry = entries.find((e) => e.manifest.name === f.plugin)!;
    const prior = state.plugins[f.plugin];
    const rec: PluginRecord = prior ?? { version: f.version, features: [], migrations: [], env: {} };
    rec.version = f.version;
    const featuresBefore = prior ? [...prior.features] : undefined;
    const optionsBefore = prior ? { ...(prior.options ?? {}) } : undefined;
    rec.features = [...f.features];
    const options = optionsOf.get(f.plugin) ?? {};
    if (Object.keys(options).length) rec.options = options;
    else delete rec.options;
    const triggers = triggerRecords.get(f.plugin);
    if (triggers?.length) rec.projectTriggers = triggers;
    else if (triggers) delete rec.projectTriggers;
    rec.migrations.push(...copy(f.plugin, f.marker, f.migrations));
    if (envDir !== null) {
      // Only the settings of the features that are on: a disabled feature's settings are never required.
      const running = withFeatures(entry.manifest, rec.features);
      // Settings the options need (a chosen provider's credentials) are written like required ones.
      const needed = new Set(optionNeededSettings(entry.manifest, options));
      const settings = pluginSettings(running).map((s) => (needed.has(s.key) && !s.required ? { ...s, required: true } : s));
      const values: Record<string, string> = { ...(opts.settings ?? {}) };
      // A block written anew (the options changed) keeps the values already given for them.
      const envBefore = files.read(envRel('.env')) ?? '';
      for (const key of needed) {
        const v = envValue(envBefore, key);
        if (values[key] === undefined && v) values[key] = v;
      }
      const example = envLinesFor(settings, values, true);
      const real = envLinesFor(settings, values, false);
      // Install options are stored as the settings they name, like <PLUGIN>_FEATURES.
      const optionLines = optionSettingValues(entry.manifest, options);
      const optionKeys = new Set(optionLines.map((l) => l.key));
      real.lines = real.lines.filter((l) => !optionKeys.has(l.key));
      real.missing = real.missing.filter((k) => !optionKeys.has(k));
      real.lines.unshift(...optionLines.map((l) => ({ key: l.key, value: l.value, comment: `${l.description} (install option)` })));
      const hasFeatures = declaredFeatures(entry.manifest).length > 0;
      const featureKey = featuresKey(f.plugin);
      const featureValue = rec.features.join(',') || 'none';
      if (hasFeatures) {
        const comment = featuresDescription(entry.manifest);
        example.lines.unshift({ key: featureKey, value: defaultFeatures(entry.manifest).join(',') || 'none', comment: `${comment}\n(default: ${defaultFeatures(entry.manifest).join(',') || 'none'})`, commented: true });
        real.lines.unshift({ key: featureKey, value: featureValue, comment });
      }
      result.missing.push(...real.missing);
      const title = `nself-plugins ${f.plugin} (added by \`nself-plugins install ${f.plugin}\`)`;
      const perFile = { '.env.example': example.lines, '.env': real.lines };
      const optionsChanged = optionsBefore !== undefined && JSON.stringify(optionsBefore) !== JSON.stringify(options);
      if ((featuresBefore && stableKey(featuresBefore) !== stableKey(rec.features)) || optionsChanged) {
        const sets = [...(hasFeatures ? [{ key: featureKey, value: featureValue }] : []), ...optionLines.map((l) => ({ key: l.key, value: l.value }))];
        refreshEnv(files, envRel, title, perFile, rec.env, result, sets);
      } else addEnv(files, envRel, title, perFile, rec.env, result);
      const envText = files.read(envRel('.env')) ?? '';
      for (const l of optionLines) {
        const block = rec.env['.env'];
        if (!block?.keys.includes(l.key) && !new RegExp(`^\\s*(?:export\\s+)?${l.key}\\s*=\\s*"?${l.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*$`, 'm').test(envText)) {
          result.notes.push(`${envRel('.env')} already sets ${l.key} outside the plugin's block; set ${l.key}=${l.value} there for the server to match`);
        }
      }
    }
    state.plugins[f.plugin] = rec;
  }

  for (const c of project.created) if (!state.created.includes(c)) state.created.push(c);
  if (fragments.length) writeState(files, state);
  result.files = [...files.changes().keys()];
  if (!opts.dryRun && !opts.files) files.commit(keepDirs(project, source));
  return result;
}

function locate(project: Project, kind: 'table' | 'action' | 'type' | 'cron' | 'function' | 'remote schema', name: string, source: string): string | undefined {
  const M = (f: string) => join(project.metadataDir, f);
  switch (kind) {
    case 'table': {
      const loc = project.tables.get(`${source}/${name}`);
      return loc?.file ?? loc?.container.file;
    }
    case 'action':
    case 'type':
      return `${M('actions.yaml')}, ${M('actions.graphql')}`;
    case 'cron':
      return M('cron_triggers.yaml');
    case 'function': {
      const loc = project.functions.get(`${source}/${name}`);
      return loc?.file ?? loc?.container.file;
    }
    case 'remote schema':
      return M('remote_schemas.yaml');
  }
}

/* ------------------------------------------------------------------ remove */

export interface RemoveOptions {
  projectDir: string;
  catalog: PluginCatalog;
  plugins: readonly string[];
  /** Database to ask which migrations were applied; without it, applied is assumed. */
  databaseUrl?: string;
  envDir?: string | null;
  dryRun?: boolean;
  /** How long to wait while another install/remove holds the project (default 60 s). */
  lockWaitMs?: number;
}

export interface RemoveResult {
  changes: PluginChange[];
  ops: Op[];
  /** Migration folders deleted (never applied). */
  deletedMigrations: string[];
  /** Uninstall migrations written (the plugin's migrations had been applied, or could not be checked). */
  uninstallMigrations: string[];
  files: string[];
  notes: string[];
}

const EMPTY_FORMS: Record<string, string> = {
  'actions.yaml': EMPTY_ACTIONS_YAML,
  'actions.graphql': '',
  'cron_triggers.yaml': '[]\n',
  'tables.yaml': '[]\n',
  'functions.yaml': '[]\n',
  'remote_schemas.yaml': '[]\n',
  'databases.yaml': '[]\n',
};

export async function remove(opts: RemoveOptions): Promise<RemoveResult> {
  const held = await lockProject(resolve(opts.projectDir), `remove ${opts.plugins.join(' ')}`, opts.lockWaitMs);
  try {
    return await removeUnlocked(opts);
  } finally {
    held?.release();
  }
}

async function removeUnlocked(opts: RemoveOptions): Promise<RemoveResult> {
  const projectDir = resolve(opts.projectDir);
  const files = new FileSet(projectDir);
  const project = readProject(files);
  const state = readState(files) ?? emptyState(pickSource(project, undefined));
  const source = state.source;
  const result: RemoveResult = { changes: [], ops: [], deletedMigrations: [], uninstallMigrations: [], files: [], notes: [] };

  const installed = new Set([...Object.keys(state.plugins), ...markedPlugins(project.metadata).keys()]);
  const names = [...new Set(opts.plugins)];
  const notInstalled = names.filter((n) => !installed.has(n));
  if (notInstalled.length) {
    const known = new Set(opts.catalog.plugins.map((p) => p.manifest.name));
    const what = notInstalled.map((n) => (known.has(n) ? `${n} is not installed` : `${n} is not a known plugin`)).join('; ');
    throw new InstallError(`${what} (installed: ${[...installed].sort().join(', ') || 'none'})`);
  }
  const removing = new Set(names);
  const blockers: string[] = [];
  for (const other of installed) {
    if (removing.has(other)) continue;
    const deps = opts.catalog.plugins.find((p) => p.manifest.name === other)?.manifest.dependsOn ?? [];
    for (const d of deps) if (removing.has(d)) blockers.push(`plugin ${other} depends on ${d}; remove ${other} first (or both together)`);
  }
  if (blockers.length) throw new InstallError(blockers.join('; '));

  // Dependants first, so each removal sees a consistent project.
  const order = resolveSelectionSafe(opts.catalog, names).reverse();
  const plan = planRemove(project.metadata, order, { source, installedTablesOnly: new Set(Object.keys(state.plugins)) });
  const ops = [...plan.ops];
  const remaining = [...installed].filter((p) => !removing.has(p));
  if (remaining.length === 0 && state.createdSource) {
    const src = plan.metadata.sources.find((s) => s.name === source);
    if (src && src.tables.length === 0) ops.push({ op: 'drop_source', name: source });
  }
  // The triggers the plugins put on the project's own tables go with them (and tables tracked only for them).
  const afterPlan = structuredClone(plan.metadata);
  for (const p of order) {
    const recorded = state.plugins[p]?.projectTriggers ?? [];
    if (!recorded.length) continue;
    const t = planProjectTriggers(afterPlan, p, recorded, []);
    for (const op of t.ops) applyOp(afterPlan, op);
    ops.unshift(...t.ops);
  }
  applyOpsToProject(project, ops);
  result.changes = plan.changes;
  result.ops = ops;

  // Migrations: delete when provably never applied, otherwise append an uninstall migration.
  const migDir = join(project.migrationsDir, source);
  const alloc = new VersionAllocator(existingVersions(files, migDir));
  const owners: Array<{ owner: string; folders: string[] }> = order.map((p) => ({ owner: p, folders: state.plugins[p]?.migrations ?? [] }));
  if (remaining.length === 0) owners.push({ owner: FOUNDATION, folders: state.foundation.migrations });
  const checker = opts.databaseUrl ? await databaseAppliedCheck(opts.databaseUrl, source) : undefined;
  try {
    for (const { owner, folders } of owners) {
      const present = folders.filter((f) => files.exists(join(migDir, f, 'up.sql')));
      if (present.length === 0) continue;
      const applied = checker ? await checker.check({ schema: owner, folders: present }) : true;
      if (applied) {
        result.uninstallMigrations.push(writeUninstallMigration(files, migDir, owner, present, alloc));
        if (!checker) result.notes.push(`${owner}: could not check whether its migrations were applied (no --database-url), so an uninstall migration reverts them`);
      } else {
        for (const f of present) {
          files.remove(join(migDir, f, 'up.sql'));
          files.remove(join(migDir, f, 'down.sql'));
        }
        result.deletedMigrations.push(...present);
      }
    }
  } finally {
    await checker?.close();
  }

  const envDir = opts.envDir === undefined ? dirname(projectDir) : opts.envDir;
  const envRel = (f: string) => relative(projectDir, resolve(envDir ?? projectDir, f)).split('\\').join('/');
  if (envDir !== null) {
    for (const p of order) dropEnv(files, envRel, state.plugins[p]?.env ?? {}, result.notes);
    if (remaining.length === 0) dropEnv(files, envRel, state.foundation.env, result.notes);
  }

  for (const p of order) delete state.plugins[p];
  if (remaining.length === 0) {
    // Files the installer created go again once they are back to their empty form.
    for (const c of state.created) {
      const text = files.read(c);
      if (text !== undefined && EMPTY_FORMS[basename(c)] === text) files.remove(c);
    }
    state.plugins = {};
  }
  writeState(files, state);
  result.files = [...files.changes().keys()];
  if (!opts.dryRun) files.commit(keepDirs(project, source));
  return result;
}

/** Catalogue order with dependencies first, for names the catalogue may not know (removed plugins). */
function resolveSelectionSafe(catalog: PluginCatalog, names: readonly string[]): string[] {
  const known = names.filter((n) => catalog.plugins.some((p) => p.manifest.name === n));
  const ordered = known.length ? resolveSelection(catalog, known).map((e) => e.manifest.name).filter((n) => names.includes(n)) : [];
  return [...ordered, ...names.filter((n) => !ordered.includes(n))];
}
