/**
 * The plugin manifest: the single source for everything a plugin owns. `compose` turns manifests into
 * Hasura metadata, the server turns them into routes, the config loader into validated settings.
 *
 * Hasura names are the join key: an action's manifest key is its GraphQL field name, an event trigger's
 * or cron's `name` is its Hasura name and the last segment of its route (`/events/<name>`).
 */
import type { z } from 'zod';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { Logger } from 'pino';
import type { QueueProvider } from './queue-types.js';

/** Reading Hasura's timestamps (an event's zone-less `created_at`, timestamptz arguments) as UTC. */
export { hasuraTimestampMs, parseHasuraTimestamp } from './hasura-time.js';

/* ------------------------------------------------------------------ handler context */

/** Hasura session as our handlers see it: keys lower-case, values strings (Hasura sends nothing else). */
export interface Session {
  role: string;
  /** `x-hasura-user-id`, when present. */
  userId: string | null;
  /** Every session variable, keys lower-cased. */
  variables: Readonly<Record<string, string>>;
}

/** A query runner: the pool or a transaction's client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Db extends Queryable {
  readonly pool: Pool;
  /** Runs `fn` in one transaction (BEGIN/COMMIT, ROLLBACK on throw). */
  tx<T>(fn: (client: PoolClient) => Promise<T>): Promise<T>;
}

export type OnceResult<T> = { first: true; value: T } | { first: false };

export interface HandlerContext<C = Record<string, unknown>> {
  /** The plugin's own validated, frozen settings. */
  readonly config: Readonly<C>;
  /** Core settings (PUBLIC_URL, …). */
  readonly core: Readonly<CoreConfig>;
  readonly log: Logger;
  readonly db: Db;
  readonly queue: QueueProvider;
  /** The caller's session; `null` for event/cron deliveries without one. */
  readonly session: Session | null;
  /** Request id (x-request-id or generated); also the log binding. */
  readonly requestId: string;
  readonly plugin: string;
  /**
   * Runs a database effect exactly once per key (for events and crons: the Hasura event id).
   * The receipt is written to `nself_plugins.event_receipt` in the same transaction as `fn`'s effect,
   * so a redelivery after a crash either sees the receipt (effect committed) or repeats cleanly.
   */
  once<T>(key: string, fn: (tx: PoolClient) => Promise<T>): Promise<OnceResult<T>>;
  /** Features of the handler's plugin that are switched on (`<PLUGIN>_FEATURES`). */
  readonly features: ReadonlySet<string>;
  /**
   * A long-lived object a plugin declared in its manifest's `services` (its own, or one of a plugin it depends
   * on), created at start and closed at shutdown. Throws when the owning plugin or feature is not enabled.
   */
  service<T>(token: ServiceToken<T>): T;
  /** Like `service`, but `undefined` when the owning plugin (an optional dependency) or feature is off. */
  optionalService<T>(token: ServiceToken<T>): T | undefined;
}

/* ------------------------------------------------------------------ Hasura envelopes */

export interface HasuraEventPayload<Row = Record<string, unknown>> {
  id: string;
  /** `event_log.created_at` without a zone (`2023-05-01T12:34:56.123456`): read it with `parseHasuraTimestamp` (UTC). */
  created_at: string;
  trigger: { name: string };
  table: { schema: string; name: string };
  delivery_info: { max_retries: number; current_retry: number };
  event: {
    op: 'INSERT' | 'UPDATE' | 'DELETE' | 'MANUAL';
    data: { old: Row | null; new: Row | null };
    session_variables: Record<string, string> | null;
    trace_context?: Record<string, unknown> | null;
  };
}

export interface HasuraCronPayload<P = unknown> {
  id: string;
  name?: string;
  scheduled_time: string;
  payload: P;
  comment?: string | null;
  created_at?: string;
}

/* ------------------------------------------------------------------ handlers */

export interface ActionContext<C = Record<string, unknown>> extends HandlerContext<C> {
  readonly session: Session;
  readonly action: { name: string; requestQuery: string | null };
}

export type ActionHandler<I = any, O = unknown, C = any> = (input: I, ctx: ActionContext<C>) => Promise<O>;

/** Event/cron handlers resolve to nothing when done, or `{ skipped }` to acknowledge without effect. */
export type DeliveryOutcome = void | { skipped: string };

export type EventHandler<Row = any, C = any> = (
  event: HasuraEventPayload<Row>,
  ctx: HandlerContext<C>,
) => Promise<DeliveryOutcome>;

export type CronHandler<P = any, C = any> = (cron: HasuraCronPayload<P>, ctx: HandlerContext<C>) => Promise<DeliveryOutcome>;

/* ------------------------------------------------------------------ metadata declared by a plugin */

/** Hasura boolean expression (permission filters/checks). Kept as plain JSON: it is written verbatim. */
export type BoolExp = Record<string, unknown>;

export interface SelectPermission {
  role: string;
  permission: {
    columns: string[] | '*';
    filter: BoolExp;
    allow_aggregations?: boolean;
    limit?: number;
    computed_fields?: string[];
    query_root_fields?: string[];
    subscription_root_fields?: string[];
  };
  comment?: string;
}
export interface InsertPermission {
  role: string;
  permission: { check: BoolExp; columns: string[] | '*'; set?: Record<string, unknown>; backend_only?: boolean };
  comment?: string;
}
export interface UpdatePermission {
  role: string;
  permission: { columns: string[] | '*'; filter: BoolExp; check?: BoolExp | null; set?: Record<string, unknown> };
  comment?: string;
}
export interface DeletePermission {
  role: string;
  permission: { filter: BoolExp; backend_only?: boolean };
  comment?: string;
}

export interface Relationship {
  name: string;
  using: Record<string, unknown>;
  comment?: string;
}

export interface OperationSpec {
  columns: '*' | string[];
  payload?: '*' | string[];
}

/** Event trigger retry settings, Hasura's key names. */
export interface EventRetryConf {
  num_retries: number;
  interval_sec: number;
  timeout_sec: number;
}

export interface EventTriggerSpec {
  /** `<plugin>_<entity>_<event>`, ≤ 42 characters (Hasura names Postgres functions after it). */
  name: string;
  definition: {
    enable_manual?: boolean;
    insert?: OperationSpec;
    update?: OperationSpec;
    delete?: OperationSpec;
  };
  retry_conf?: Partial<EventRetryConf>;
  handler: EventHandler;
  comment?: string;
  /** Only present while this feature of the plugin is on. */
  feature?: string;
}

export interface TableSpec {
  table: { schema: string; name: string };
  configuration?: {
    custom_name?: string;
    custom_root_fields?: Record<string, string>;
    column_config?: Record<string, { custom_name?: string; comment?: string }>;
    comment?: string;
  };
  object_relationships?: Relationship[];
  array_relationships?: Relationship[];
  select_permissions?: SelectPermission[];
  insert_permissions?: InsertPermission[];
  update_permissions?: UpdatePermission[];
  delete_permissions?: DeletePermission[];
  event_triggers?: EventTriggerSpec[];
  /** Tracked (and its triggers present) only while this feature of the plugin is on; the migration always creates it. */
  feature?: string;
}

export interface ActionSpec {
  handler: ActionHandler;
  /** Mutations may be asynchronous; queries are always synchronous. Default synchronous. */
  kind?: 'synchronous' | 'asynchronous';
  /** Roles besides admin that see the field. */
  permissions?: string[];
  /** Seconds Hasura waits for the handler (Hasura's default is 30). */
  timeout?: number;
  forward_client_headers?: boolean;
  comment?: string;
  /** Only present while this feature of the plugin is on. */
  feature?: string;
}

/** Cron retry settings, Hasura's key names (they differ from event triggers'). */
export interface CronRetryConf {
  num_retries: number;
  retry_interval_seconds: number;
  timeout_seconds: number;
  tolerance_seconds: number;
}

export interface CronSpec {
  /** Five-field cron expression, evaluated by Hasura in UTC. */
  schedule: string;
  payload?: unknown;
  retry_conf?: Partial<CronRetryConf>;
  comment?: string;
  handler: CronHandler;
  /** Only present while this feature of the plugin is on. */
  feature?: string;
}

/**
 * A background job a plugin contributes: built with `defineJob` from the jobs plugin, which registers and
 * runs it. Only what the core needs to know is typed here; the jobs plugin checks the rest at boot.
 */
export interface PluginJob {
  readonly name: string;
  readonly queue: string;
  readonly handler: (data: any, ctx: any) => Promise<unknown>;
  /** Registered (and run) only while this feature of the plugin is on. */
  readonly feature?: string;
}

/* ------------------------------------------------------------------ services */

export const SERVICE_TOKEN = Symbol.for('nself-plugins.service');

/**
 * A long-lived object a plugin owns (a queue service, an S3 client, push senders…): created once when the
 * suite starts, after the database and queue and after the services of the plugins it depends on, and
 * closed in reverse order at shutdown.
 */
export interface ServiceSpec<T, C = Record<string, unknown>> {
  /** Unique within the plugin; named in logs and errors. */
  name: string;
  create(runtime: PluginRuntime<C>): Promise<T> | T;
  close?(service: T): Promise<void> | void;
  /** Created only while this feature of the plugin is on. */
  feature?: string;
}

/**
 * What a manifest lists in `services` and what handlers pass to `ctx.service(token)`: the token carries the
 * service's type, so `ctx.service(jobsService)` is typed without casts.
 */
export interface ServiceToken<T, C = any> extends Readonly<ServiceSpec<T, C>> {
  readonly [SERVICE_TOKEN]: true;
}

export function defineService<T, C = Record<string, unknown>>(spec: ServiceSpec<T, C>): ServiceToken<T, C> {
  return Object.freeze({ ...spec, [SERVICE_TOKEN]: true as const });
}

/* ------------------------------------------------------------------ more metadata kinds */

/**
 * A relationship from an action's output object type to a table (Hasura's action relationships, declared on
 * the custom type): the client selects the row through the action's result, under its own select permission.
 */
export interface ActionRelationship {
  name: string;
  type: 'object' | 'array';
  remote_table: { schema: string; name: string };
  /** Output field → table column. */
  field_mapping: Record<string, string>;
}

/** A tracked SQL function (in the plugin's schema) exposed as a query or mutation root field. */
export interface FunctionSpec {
  function: { schema: string; name: string };
  configuration?: {
    exposed_as?: 'query' | 'mutation';
    /** The function argument Hasura fills with the session variables (json). */
    session_argument?: string;
    custom_name?: string;
    custom_root_fields?: { function?: string; function_aggregate?: string };
  };
  /** Roles besides admin that may call it; each also needs select permission on the table it returns. */
  permissions?: string[];
  comment?: string;
  /** Tracked only while this feature of the plugin is on. */
  feature?: string;
}

/**
 * A GraphQL endpoint the plugin serves itself, added to Hasura as a remote schema named after the plugin and
 * served at `/remote-schemas/<plugin>`. Hasura forwards the session as `x-hasura-*` headers; resolvers get a
 * `RemoteSchemaContext` as their GraphQL context.
 */
export interface RemoteSchemaSpec {
  /** Built once at boot. Root fields start with the plugin's camelCase prefix, like actions. */
  schema: () => import('graphql').GraphQLSchema;
  /** Roles that see it when Hasura's remote schema permissions are on (admin always; off: every role). */
  permissions?: string[];
  /** Seconds Hasura waits for an answer (Hasura's default is 60). */
  timeout_seconds?: number;
  comment?: string;
  feature?: string;
}

export interface RemoteSchemaContext<C = Record<string, unknown>> extends HandlerContext<C> {
  readonly session: Session;
}

/* ------------------------------------------------------------------ install options and project triggers */

/**
 * A choice made at install time (`nself-plugins install <plugin> --<option> <value>`), stored as the plugin
 * setting it names in the project's env block, so the server reads the same value.
 */
export interface InstallOptionSpec {
  description: string;
  /** The setting (`<PLUGIN>_*`, declared in `config`) the value is stored as. */
  setting: string;
  /** A comma-separated list (`--index a,b`): trimmed, empty items and duplicates dropped. */
  list?: boolean;
  /** The accepted values (each item of a list): anything else is refused at install, naming them. */
  values?: readonly string[];
  /**
   * Settings (declared in `config`) the chosen value needs, such as each chosen provider's credentials: the
   * installer asks for them (unless `--yes`) and writes them to the plugin's `.env` block like required ones.
   */
  settings?(value: string): string[];
}

/**
 * An event trigger the plugin puts on a table of the user's own project (not in the plugin's schema), chosen
 * from the install options. Hasura calls `/events/<plugin>/<handler>` with it.
 */
export interface ProjectTrigger {
  /** `<plugin>_<what>`, ≤ 42 characters, unique in the Hasura source. */
  name: string;
  table: { schema: string; name: string };
  /** Hasura database of the table (default: the one the plugin is installed into). */
  source?: string;
  insert?: { columns: '*' | string[] };
  update?: { columns: '*' | string[] };
  delete?: { columns: '*' | string[] };
  enable_manual?: boolean;
  /** A key of the manifest's `install.eventHandlers`. */
  handler: string;
  retry_conf?: Partial<EventRetryConf>;
}

/** The handler of a plugin's project triggers (one handler may serve many triggers on many tables). */
export interface ProjectEventHandlerSpec {
  handler: EventHandler;
  comment?: string;
}

export interface InstallSpec<Settings = Record<string, unknown>> {
  /** Keyed by the command-line name (`--engine` → `engine`). */
  options?: Record<string, InstallOptionSpec>;
  /**
   * The triggers to put on the user's tables for these settings (the plugin's option settings, parsed by its
   * config schema; an option not given has the setting's default). Must be a pure function of them.
   */
  projectTriggers?(settings: Readonly<Partial<Settings>>): ProjectTrigger[];
  /**
   * Handlers of the project triggers, keyed by a snake_case name: served at `/events/<plugin>/<name>` for
   * every trigger named `<plugin>_…`, whatever its table (the handler reads `event.trigger` and `event.table`).
   * One handler file each: `event-triggers/<plugin>/<name>.ts` (kebab-case).
   */
  eventHandlers?: Record<string, ProjectEventHandlerSpec>;
}

/* ------------------------------------------------------------------ the manifest */

export interface FeatureSpec {
  description: string;
  /** On when `<PLUGIN>_FEATURES` is unset. */
  default?: boolean;
  /** Other features of the plugin this one needs. */
  requires?: string[];
}

export interface PluginManifest<C extends z.ZodObject = z.ZodObject> {
  /** = Postgres schema = prefix of every Hasura name the plugin owns. */
  name: string;
  version: string;
  description: string;
  dependsOn?: string[];
  /**
   * Plugins this one uses when they are enabled (through `ctx.optionalService`), without needing them:
   * started before it when present.
   */
  optionalDependsOn?: string[];
  /** zod object of the plugin's env settings (`<PLUGIN>_*`). Mark secrets with `secret()`, feature settings with `forFeature()`. */
  config?: C;
  tables?: TableSpec[];
  /** Keyed by the GraphQL field name (camelCase, plugin prefix). The SDL lives in `actions/<plugin>/actions.graphql`. */
  actions?: Record<string, ActionSpec>;
  /** Relationships of action output types (SDL object types) to tables, keyed by the type name. */
  actionRelationships?: Record<string, ActionRelationship[]>;
  /** Tracked SQL functions of the plugin's schema. */
  functions?: FunctionSpec[];
  /** A GraphQL endpoint of the plugin's own, added to Hasura as a remote schema. */
  remoteSchema?: RemoteSchemaSpec;
  /** Keyed by the cron trigger name (`<plugin>_<what>`). */
  crons?: Record<string, CronSpec>;
  /**
   * Feature flags (`install --features a,b`, `<PLUGIN>_FEATURES`). Actions, triggers, crons, tables, functions,
   * jobs, services and settings marked with a `feature` exist only while it is on.
   */
  features?: Record<string, FeatureSpec>;
  /** Long-lived objects the plugin's handlers (and its dependants') reach through `ctx.service(token)`. */
  services?: readonly ServiceToken<any>[];
  /**
   * Started with the server (and with `nself-plugins worker`), after every service: background workers,
   * schedulers. Returns a stop function awaited on graceful shutdown.
   */
  start?(runtime: PluginRuntime<z.infer<C>>): Promise<(() => Promise<void>) | void>;
  /** Extra HTTP routes for third parties (mounted under `/hooks/<plugin>/` or `/admin/<plugin>/`). */
  routes?(router: import('express').Router, runtime: PluginRuntime<z.infer<C>>): void;
  /** Where `routes` is mounted: `hooks` (default, `/hooks/<plugin>/`) or `admin` (`/admin/<plugin>/`, operator pages). */
  routesMount?: 'hooks' | 'admin';
  /** Background jobs (`defineJob`) the jobs plugin registers and runs; names start with `<plugin>.`. */
  jobs?: readonly PluginJob[];
  /** Install-time options and the event triggers the plugin puts on the user's own tables. */
  install?: InstallSpec<z.infer<C>>;
}

export interface PluginRuntime<C = Record<string, unknown>> {
  readonly plugin: string;
  readonly config: Readonly<C>;
  readonly core: Readonly<CoreConfig>;
  readonly log: Logger;
  readonly db: Db;
  readonly queue: QueueProvider;
  /** Features of this plugin that are on. */
  readonly features: ReadonlySet<string>;
  /** Every enabled plugin (with only its enabled features), dependencies first. */
  readonly plugins: readonly PluginManifest[];
  /** Every enabled plugin's settings: the jobs plugin hands each contributed job its own plugin's config. */
  readonly pluginConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** A service of this plugin or of a plugin it depends on (see `HandlerContext.service`). */
  service<T>(token: ServiceToken<T>): T;
  optionalService<T>(token: ServiceToken<T>): T | undefined;
  /**
   * The runtime of another enabled plugin: how the jobs plugin gives each contributed job its own plugin's
   * features and services. Absent in runtimes built by hand (tests).
   */
  readonly runtimeOf?: (plugin: string) => PluginRuntime;
}

export type PluginConfig<P> = P extends PluginManifest<infer C> ? z.infer<C> : never;

export function definePlugin<C extends z.ZodObject>(manifest: PluginManifest<C>): PluginManifest<C> {
  return manifest;
}

/* ------------------------------------------------------------------ core settings */

export interface CoreConfig {
  PORT: number;
  HOST: string;
  /** Absent: embedded PostgreSQL in DATA_DIR/postgres. */
  DATABASE_URL?: string;
  /** Connections in this replica's PostgreSQL pool. */
  DATABASE_POOL_MAX: number;
  /** Absent: BullMQ on its PostgreSQL backend. */
  REDIS_URL?: string;
  /** Connections in the job queue's shared PostgreSQL pool, when BullMQ runs on PostgreSQL. */
  QUEUE_DB_POOL_MAX: number;
  NSELF_PLUGINS_WEBHOOK_SECRET?: string;
  PUBLIC_URL: string;
  LOG_LEVEL: string;
  BODY_LIMIT_BYTES: number;
  /** Largest event/cron body; absent (a hand-built config): 64 MiB. */
  EVENT_BODY_LIMIT_BYTES?: number;
  /** HTTP listener limits; absent: the defaults of the core settings. */
  HTTP_HEADERS_TIMEOUT_MS?: number;
  HTTP_REQUEST_TIMEOUT_MS?: number;
  HTTP_KEEP_ALIVE_TIMEOUT_MS?: number;
  HTTP_MAX_CONNECTIONS?: number;
  DATA_DIR: string;
  PLUGINS_ENABLED: string[];
  SHUTDOWN_TIMEOUT_MS: number;
}
