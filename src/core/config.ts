/**
 * Settings: the core schema plus every enabled plugin's `config` schema, all read from the environment.
 * Everything is validated before anything starts and every problem is reported in one error, so an
 * operator fixes a broken deployment in one pass instead of one restart per mistake.
 */
import { z } from 'zod';
import type { CoreConfig, PluginManifest } from './plugin.js';
import { resolvePlugins, RegistryError } from './registry.js';
import { defaultFeatures, featureTagProblems, featuresKey, parseFeatures, withFeatures } from './features.js';

/* ------------------------------------------------------------------ schema annotations */

/** Marks a setting as secret: redacted in logs, flagged in `.env.example`. */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ ...(schema.meta() ?? {}), secret: true }) as T;
}

/** The wrapped schema of a modifier (optional, default, nullable, pipe input, …), if any. */
function inner(schema: z.ZodType): z.ZodType | undefined {
  const def = schema._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
  return def.innerType ?? def.in;
}

/** Walks modifiers outside-in and returns the first value `pick` finds. */
function findInChain<T>(schema: z.ZodType, pick: (s: z.ZodType) => T | undefined): T | undefined {
  for (let s: z.ZodType | undefined = schema; s; s = inner(s)) {
    const v = pick(s);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Marks a setting as belonging to a feature of its plugin: validated (and required, if it is) only while the
 * feature is on, and listed under it by `info` and in `.env.example`.
 */
export function forFeature<T extends z.ZodType>(feature: string, schema: T): T {
  return schema.meta({ ...(schema.meta() ?? {}), feature }) as T;
}

/** The feature a setting belongs to, if any. */
export function settingFeature(schema: z.ZodType): string | undefined {
  return findInChain(schema, (s) => {
    const f = s.meta()?.feature;
    return typeof f === 'string' ? f : undefined;
  });
}

/**
 * Marks a plugin's settings object as also reading the variables whose names start with one of `prefixes`:
 * settings the operator names (`OAUTH_OIDC_<NAME>_ISSUER` for each generic provider they list). The object must
 * accept them (`.catchall(…)`) and check them itself (`.superRefine`); issues on their path name the variable.
 */
export function withDynamicSettings<T extends z.ZodObject>(prefixes: readonly string[], schema: T): T {
  return schema.meta({ ...(schema.meta() ?? {}), dynamicPrefixes: [...prefixes] }) as T;
}

/** The prefixes of operator-named settings a settings object reads (see `withDynamicSettings`). */
export function dynamicSettingPrefixes(schema: z.ZodType): readonly string[] {
  const p = schema.meta()?.dynamicPrefixes;
  return Array.isArray(p) ? (p as string[]) : [];
}

export function isSecret(schema: z.ZodType): boolean {
  return findInChain(schema, (s) => (s.meta()?.secret === true ? true : undefined)) ?? false;
}

export function describeSetting(schema: z.ZodType): string | undefined {
  return findInChain(schema, (s) => s.description);
}

/** The declared default, when the schema has one. */
export function settingDefault(schema: z.ZodType): { value: unknown } | undefined {
  return findInChain(schema, (s) => {
    const def = s._zod.def as { type: string; defaultValue?: unknown };
    return def.type === 'default' ? { value: def.defaultValue } : undefined;
  });
}

export function isRequired(schema: z.ZodType): boolean {
  return !schema.safeParse(undefined).success;
}

/* ------------------------------------------------------------------ core settings */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const urlWithScheme = (schemes: string[], what: string) =>
  z.string().refine(
    (v) => {
      try {
        return schemes.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${what} URL (${schemes.map((s) => s + '//').join(' or ')}…)` },
  );

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Core settings, keyed by environment variable. Order here is the order in `.env.example`. */
export const coreConfigSchema = z.object({
  PORT: int(0, 65535).default(3100).describe('HTTP port of the handler server.'),
  HOST: z.string().min(1).default('0.0.0.0').describe('Interface the handler server listens on.'),
  DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:'], 'PostgreSQL')
    .optional()
    .describe('PostgreSQL the plugins use. Unset: an embedded PostgreSQL is started in DATA_DIR/postgres.'),
  DATABASE_POOL_MAX: int(1, 1000).default(10).describe('Connections in the handler server\'s PostgreSQL pool (per replica).'),
  REDIS_URL: urlWithScheme(['redis:', 'rediss:'], 'Redis')
    .optional()
    .describe('Redis for the job queue. Unset: BullMQ runs on its PostgreSQL backend.'),
  QUEUE_DB_POOL_MAX: int(1, 1000)
    .default(10)
    .describe(
      'Without REDIS_URL: connections in the job queue\'s PostgreSQL pool (per replica), shared by every queue. ' +
        'Each worker and event listener holds one more, for LISTEN.',
    ),
  NSELF_PLUGINS_WEBHOOK_SECRET: secret(z.string().min(16, 'must be at least 16 characters'))
    .optional()
    .describe(
      'Shared secret Hasura sends in the x-nself-plugins-secret header (value_from_env in the metadata). ' +
        'Unset: one is generated on first start and kept in DATA_DIR/webhook-secret.',
    ),
  PUBLIC_URL: urlWithScheme(['http:', 'https:'], 'http(s)')
    .optional()
    .describe('URL at which Hasura and browsers reach this server. Default: http://localhost:$PORT.'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe(`Log level: ${LOG_LEVELS.join(', ')}.`),
  BODY_LIMIT_BYTES: int(1024, 1024 ** 3).default(1024 * 1024).describe('Largest action request body accepted (413 above).'),
  EVENT_BODY_LIMIT_BYTES: int(1024, 1024 ** 3)
    .default(64 * 1024 * 1024)
    .describe(
      'Largest event trigger or cron body accepted. An UPDATE event carries the whole old and new row; a refused ' +
        'event is retried by Hasura and then dropped, so the refusal is logged as an error.',
    ),
  HTTP_HEADERS_TIMEOUT_MS: int(1000, 10 * 60_000).default(20_000).describe('How long a client may take to send the request headers.'),
  HTTP_REQUEST_TIMEOUT_MS: int(1000, 60 * 60_000).default(120_000).describe('How long a client may take to send a whole request (headers and body).'),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(1000, 10 * 60_000)
    .default(65_000)
    .describe('How long an idle keep-alive connection stays open (longer than Hasura keeps its idle connections).'),
  HTTP_MAX_CONNECTIONS: int(1, 1_000_000).default(2048).describe('Concurrent connections per replica; more are closed at once.'),
  DATA_DIR: z.string().min(1).default('./.data').describe('Folder for embedded PostgreSQL, the generated webhook secret and local files.'),
  PLUGINS_ENABLED: z
    .string()
    .optional()
    .describe('Comma-separated plugins to enable. Default: all of them.'),
  SHUTDOWN_TIMEOUT_MS: int(0, 10 * 60_000).default(10_000).describe('On SIGTERM, how long in-flight requests may take before connections are cut.'),
});

/* ------------------------------------------------------------------ loading */

export interface ConfigProblem {
  /** The plugin whose setting this is; absent for core settings and plugin-selection problems. */
  plugin?: string;
  /** The environment variable, when the problem is about one. */
  variable?: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems
          .map((p) => `  - ${p.variable ? `${p.variable} (${p.plugin ? `plugin ${p.plugin}` : 'core'}): ` : ''}${p.message}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  core: Readonly<CoreConfig>;
  /** Enabled plugins, dependencies first, each with only its enabled features (`withFeatures`). */
  plugins: readonly PluginManifest[];
  /** The features on per enabled plugin (from `<PLUGIN>_FEATURES`, else the defaults). */
  features: ReadonlyMap<string, readonly string[]>;
  pluginConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The env values a schema reads. Empty strings count as unset (`FOO=` in a .env file or compose). */
function pickEnv(shape: Record<string, z.ZodType>, env: Env, dynamicPrefixes: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') out[key] = v;
  }
  if (dynamicPrefixes.length === 0) return out;
  for (const [key, v] of Object.entries(env)) {
    if (v !== undefined && v !== '' && !(key in out) && dynamicPrefixes.some((p) => key.startsWith(p))) out[key] = v;
  }
  return out;
}

function issueProblems(plugin: string | undefined, schema: z.ZodObject, error: z.ZodError, input: Record<string, unknown>): ConfigProblem[] {
  return error.issues.map((issue) => {
    const variable = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
    const value = variable === undefined ? undefined : input[variable];
    let message = issue.message;
    if (variable !== undefined && value === undefined) message = 'is required';
    else if (issue.code === 'invalid_type' && variable !== undefined) {
      // Env values are strings: say what was expected and, unless it is a secret, what was given.
      const s = (schema.shape as Record<string, z.ZodType>)[variable];
      message = `expected ${issue.expected === 'number' ? 'a number' : issue.expected}` + (s && isSecret(s) ? '' : `, got ${JSON.stringify(value)}`);
    }
    return { ...(plugin ? { plugin } : {}), variable, message };
  });
}

function freezeDeep<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}

export function parsePluginList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Validates core settings and the settings of every enabled plugin. Throws one `ConfigError` listing every
 * problem (invalid values, missing required settings, unknown or missing plugins).
 */
export function loadConfig(env: Env, available: readonly PluginManifest[]): LoadedConfig {
  const problems: ConfigProblem[] = [];

  const coreInput = pickEnv(coreConfigSchema.shape, env);
  const coreResult = coreConfigSchema.safeParse(coreInput);
  if (!coreResult.success) problems.push(...issueProblems(undefined, coreConfigSchema, coreResult.error, coreInput));

  const requested = parsePluginList(coreInput.PLUGINS_ENABLED);
  let plugins: readonly PluginManifest[] = [];
  try {
    plugins = resolvePlugins(available, requested);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    problems.push(...e.problems.map((message) => ({ message })));
    // Still validate the settings of the plugins we could identify, so this pass reports everything.
    const names = new Set(requested ?? available.map((p) => p.name));
    plugins = available.filter((p) => names.has(p.name));
  }

  const pluginConfig = new Map<string, Readonly<Record<string, unknown>>>();
  const features = new Map<string, readonly string[]>();
  plugins = plugins.map((declared) => {
    problems.push(...featureTagProblems(declared).map((message) => ({ plugin: declared.name, message })));
    if (!declared.features || Object.keys(declared.features).length === 0) return withFeatures(declared, []);
    const variable = featuresKey(declared.name);
    const r = parseFeatures(declared, env[variable]);
    problems.push(...r.problems.map((message) => ({ plugin: declared.name, variable, message })));
    const on = r.problems.length ? defaultFeatures(declared) : r.features;
    features.set(declared.name, on);
    return withFeatures(declared, on);
  });
  for (const plugin of plugins) {
    if (!plugin.config) {
      pluginConfig.set(plugin.name, Object.freeze({}));
      continue;
    }
    const input = pickEnv(plugin.config.shape as Record<string, z.ZodType>, env, dynamicSettingPrefixes(plugin.config));
    const result = plugin.config.safeParse(input);
    if (result.success) pluginConfig.set(plugin.name, freezeDeep(result.data as Record<string, unknown>));
    else problems.push(...issueProblems(plugin.name, plugin.config, result.error, input));
  }

  if (problems.length > 0 || !coreResult.success) throw new ConfigError(problems);

  const c = coreResult.data;
  const core: CoreConfig = {
    ...c,
    PUBLIC_URL: (c.PUBLIC_URL ?? `http://localhost:${c.PORT}`).replace(/\/+$/, ''),
    PLUGINS_ENABLED: plugins.map((p) => p.name),
  };
  return { core: freezeDeep(core), plugins: Object.freeze([...plugins]), features, pluginConfig };
}

/* ------------------------------------------------------------------ redaction and .env.example */

export const REDACTED = '[redacted]';

/**
 * A URL with its password replaced (`postgres://app:[redacted]@db/app`); other text unchanged. Connection
 * URLs carry passwords without being secret settings as a whole (DATABASE_URL, REDIS_URL, a plugin's S3 URL).
 */
export function redactUrl(value: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i.exec(value);
  if (!m) return value;
  return `${m[1]}:${REDACTED}@${value.slice(m[0].length)}`;
}

/**
 * A copy of `values` safe to log: settings marked `secret()` in `schema` are replaced, and so is the password
 * of any URL-valued setting.
 */
export function redactConfig(
  values: Readonly<Record<string, unknown>>,
  schema: z.ZodObject = coreConfigSchema,
): Record<string, unknown> {
  const shape = schema.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const s = shape[key];
    out[key] = s && isSecret(s) && value !== undefined ? REDACTED : typeof value === 'string' ? redactUrl(value) : value;
  }
  return out;
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

function renderSection(title: string, description: string | undefined, shape: Record<string, z.ZodType>, plugin?: PluginManifest): string[] {
  const lines = [`## ${title}`];
  if (description) lines.push(`# ${description}`);
  if (plugin?.features && Object.keys(plugin.features).length) {
    lines.push('', `# ${featuresDescription(plugin)}`);
    const defaults = defaultFeatures(plugin).join(',') || 'none';
    lines.push(`# (default: ${defaults})`, `# ${featuresKey(plugin.name)}=${defaults}`);
  }
  for (const [key, schema] of Object.entries(shape)) {
    lines.push('');
    const desc = describeSetting(schema);
    if (desc) lines.push(`# ${desc}`);
    const flags: string[] = [];
    const feature = settingFeature(schema);
    if (feature) flags.push(`feature: ${feature}`);
    if (isSecret(schema)) flags.push('secret');
    const def = settingDefault(schema);
    const required = isRequired(schema);
    if (required) flags.push(feature ? 'required with the feature' : 'required');
    if (def) flags.push(`default: ${formatDefault(def.value)}`);
    if (flags.length) lines.push(`# (${flags.join('; ')})`);
    lines.push(required && !feature ? `${key}=` : `# ${key}=${def && !isSecret(schema) ? formatDefault(def.value) : ''}`);
  }
  return lines;
}

/** One line naming a plugin's features, for `.env.example` and the installer. */
export function featuresDescription(plugin: PluginManifest): string {
  const list = Object.entries(plugin.features ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => `${name} (${f.description.replace(/\.$/, '')})`)
    .join(', ');
  return `Features switched on, comma-separated (none: none, all: all): ${list}.`;
}

/** `.env.example` text for the core settings and every plugin in `plugins`. Deterministic. */
export function renderEnvExample(plugins: readonly PluginManifest[]): string {
  const sections: string[][] = [
    [
      '# nself-plugins settings, generated from the plugin manifests by `nself-plugins config env-example`.',
      '# Do not edit by hand. Commented-out lines show the default; lines without "#" must be set.',
    ],
    renderSection('core', undefined, coreConfigSchema.shape as Record<string, z.ZodType>),
  ];
  for (const p of [...plugins].sort((a, b) => a.name.localeCompare(b.name))) {
    const hasFeatures = !!p.features && Object.keys(p.features).length > 0;
    if ((!p.config || Object.keys(p.config.shape).length === 0) && !hasFeatures) continue;
    sections.push(renderSection(`plugin ${p.name}`, p.description, (p.config?.shape ?? {}) as Record<string, z.ZodType>, p));
  }
  return sections.map((s) => s.join('\n')).join('\n\n') + '\n';
}
