/**
 * Hasura metadata in its JSON form (what `export_metadata` returns and `replace_metadata` takes), reduced to
 * the parts the installer reads and writes. Everything else a project holds is carried through untouched
 * (`[key: string]: unknown`), so a merge never drops what it does not understand.
 */

export interface QualifiedTable {
  schema: string;
  name: string;
}

export interface HeaderConf {
  name: string;
  value?: string;
  value_from_env?: string;
}

export interface TableEntry {
  table: QualifiedTable;
  configuration?: Record<string, unknown>;
  object_relationships?: Array<Record<string, unknown> & { name: string }>;
  array_relationships?: Array<Record<string, unknown> & { name: string }>;
  insert_permissions?: Array<Record<string, unknown> & { role: string }>;
  select_permissions?: Array<Record<string, unknown> & { role: string }>;
  update_permissions?: Array<Record<string, unknown> & { role: string }>;
  delete_permissions?: Array<Record<string, unknown> & { role: string }>;
  event_triggers?: EventTriggerJson[];
  [key: string]: unknown;
}

export interface EventTriggerJson {
  name: string;
  definition: {
    enable_manual?: boolean;
    insert?: { columns: '*' | string[]; payload?: '*' | string[] };
    update?: { columns: '*' | string[]; payload?: '*' | string[] };
    delete?: { columns: '*' | string[]; payload?: '*' | string[] };
  };
  retry_conf: { num_retries: number; interval_sec: number; timeout_sec: number };
  webhook?: string;
  webhook_from_env?: string;
  headers?: HeaderConf[];
  [key: string]: unknown;
}

export interface SourceJson {
  name: string;
  kind: string;
  configuration: Record<string, unknown>;
  tables: TableEntry[];
  functions?: FunctionEntry[];
  [key: string]: unknown;
}

/** A tracked SQL function (`sources[].functions[]`). */
export interface FunctionEntry {
  function: QualifiedTable;
  configuration?: Record<string, unknown>;
  permissions?: Array<{ role: string }>;
  comment?: string;
  [key: string]: unknown;
}

/** A remote schema (`remote_schemas[]`). */
export interface RemoteSchemaJson {
  name: string;
  definition: {
    url?: string;
    url_from_env?: string;
    headers?: HeaderConf[];
    forward_client_headers?: boolean;
    timeout_seconds?: number;
    [key: string]: unknown;
  };
  comment?: string;
  permissions?: Array<{ role: string; definition: { schema: string } }>;
  [key: string]: unknown;
}

export interface ActionArgument {
  name: string;
  type: string;
  description?: string;
}

export interface ActionJson {
  name: string;
  definition: {
    handler: string;
    type?: 'query' | 'mutation';
    kind?: 'synchronous' | 'asynchronous';
    arguments?: ActionArgument[];
    output_type?: string;
    headers?: HeaderConf[];
    forward_client_headers?: boolean;
    timeout?: number;
    [key: string]: unknown;
  };
  permissions?: Array<{ role: string }>;
  comment?: string;
  [key: string]: unknown;
}

export interface CustomField {
  name: string;
  type: string;
  description?: string;
}

export interface CustomObjectType {
  name: string;
  description?: string;
  fields: CustomField[];
  relationships?: Array<Record<string, unknown> & { name: string }>;
}

export interface CustomInputType {
  name: string;
  description?: string;
  fields: CustomField[];
}

export interface CustomEnumType {
  name: string;
  description?: string;
  values: Array<{ value: string; description?: string; is_deprecated?: boolean }>;
}

export interface CustomScalarType {
  name: string;
  description?: string;
}

export interface CustomTypes {
  scalars?: CustomScalarType[];
  enums?: CustomEnumType[];
  input_objects?: CustomInputType[];
  objects?: CustomObjectType[];
}

export type CustomTypeKind = keyof CustomTypes;
export const CUSTOM_TYPE_KINDS: readonly CustomTypeKind[] = ['scalars', 'enums', 'input_objects', 'objects'];

export type AnyCustomType = CustomScalarType | CustomEnumType | CustomInputType | CustomObjectType;

export interface CronTriggerJson {
  name: string;
  webhook: string;
  schedule: string;
  include_in_metadata: boolean;
  payload?: unknown;
  retry_conf?: {
    num_retries: number;
    retry_interval_seconds: number;
    timeout_seconds: number;
    tolerance_seconds: number;
  };
  headers?: HeaderConf[];
  comment?: string;
  [key: string]: unknown;
}

export interface HasuraMetadata {
  version: 3;
  sources: SourceJson[];
  actions?: ActionJson[];
  custom_types?: CustomTypes;
  cron_triggers?: CronTriggerJson[];
  remote_schemas?: RemoteSchemaJson[];
  [key: string]: unknown;
}

/** A plugin migration: `<version>_<name>/{up,down}.sql`. `name` starts with the owner (`core_…`, `nself_plugins_…`). */
export interface MigrationFiles {
  version: string;
  name: string;
  up: string;
  down: string;
}

/** Everything one plugin contributes to a Hasura project, in JSON form. */
export interface Fragment {
  plugin: string;
  version: string;
  /** `nself-plugins:<plugin>@<version>`, written into every `comment` the plugin owns. */
  marker: string;
  dependsOn: string[];
  tables: TableEntry[];
  actions: ActionJson[];
  customTypes: Required<CustomTypes>;
  crons: CronTriggerJson[];
  functions: FunctionEntry[];
  remoteSchemas: RemoteSchemaJson[];
  migrations: MigrationFiles[];
  /** The features the fragment was built with (sorted). */
  features: string[];
}
