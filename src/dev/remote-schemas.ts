/**
 * Remote schemas in the dev endpoint, as Hasura serves them: introspected once at start (with the configured
 * headers), their root fields merged into each role's schema, and the fields of a request forwarded to the
 * remote server with the configured headers and the session as `x-hasura-*` headers (docs:
 * remote-schemas/auth/remote-schema-forward-auth; configuration headers win over session headers, which win
 * over client headers).
 *
 * With `HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS` off (Hasura's default) every role sees every remote
 * schema; on, a role sees the root fields of its permission's schema only. Customizations (namespaces, type and
 * field renames) and permission presets are refused by name.
 */
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  GraphQLObjectType,
  isIntrospectionType,
  isSpecifiedScalarType,
  printType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { resolveHeaders, resolveTemplate } from '../testing/metadata.js';

export interface RemoteSchemaModel {
  name: string;
  url: string;
  headers: [string, string][];
  forwardClientHeaders: boolean;
  timeoutMs: number;
  schema: GraphQLSchema;
  /** Role → the root fields it may use (`undefined`: permissions are off, every role sees everything). */
  permissions: Map<string, { query: Set<string>; mutation: Set<string> }> | undefined;
}

interface RemoteSchemaMeta {
  name: string;
  definition: {
    url?: string;
    url_from_env?: string;
    headers?: Array<{ name: string; value?: string; value_from_env?: string }>;
    forward_client_headers?: boolean;
    timeout_seconds?: number;
    customization?: unknown;
  };
  permissions?: Array<{ role: string; definition: { schema: string } }>;
}

export interface LoadedRemoteSchemas {
  models: RemoteSchemaModel[];
  /** Remote schemas not served, each with the reason (shown at start, as Hasura lists inconsistent objects). */
  unsupported: string[];
}

function rootFieldsOf(schema: GraphQLSchema): { query: Set<string>; mutation: Set<string> } {
  return { query: new Set(Object.keys(schema.getQueryType()?.getFields() ?? {})), mutation: new Set(Object.keys(schema.getMutationType()?.getFields() ?? {})) };
}

/** Introspects every remote schema of `metadata`; one that cannot be reached or read is listed, not fatal. */
export async function loadRemoteSchemas(metadata: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>, permissionsEnabled: boolean): Promise<LoadedRemoteSchemas> {
  const models: RemoteSchemaModel[] = [];
  const unsupported: string[] = [];
  for (const r of (metadata.remote_schemas as RemoteSchemaMeta[] | undefined) ?? []) {
    const what = `remote schema "${r.name}"`;
    try {
      if (r.definition.customization) throw new Error('customizations (namespaces, type and field renames) are not supported by nself-plugins dev');
      const rawUrl = r.definition.url ?? (r.definition.url_from_env !== undefined ? env[r.definition.url_from_env] : undefined);
      if (!rawUrl) throw new Error(`environment variable '${r.definition.url_from_env}' not set`);
      const url = resolveTemplate(rawUrl, env, what);
      const headers = resolveHeaders(r.definition.headers, env, what);
      const timeoutMs = (r.definition.timeout_seconds ?? 60) * 1000;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...Object.fromEntries(headers) },
        body: JSON.stringify({ query: getIntrospectionQuery() }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json()) as { data?: IntrospectionQuery; errors?: Array<{ message: string }> };
      if (!res.ok || !body.data) throw new Error(`introspection failed: HTTP ${res.status}${body.errors?.length ? `: ${body.errors[0]!.message}` : ''}`);
      const schema = buildClientSchema(body.data);
      let permissions: RemoteSchemaModel['permissions'];
      if (permissionsEnabled) {
        permissions = new Map();
        for (const p of r.permissions ?? []) {
          if (/@preset\b/.test(p.definition.schema)) throw new Error(`permission of role ${p.role}: @preset arguments are not supported by nself-plugins dev`);
          permissions.set(p.role, rootFieldsOf(buildSchema(p.definition.schema)));
        }
      }
      models.push({ name: r.name, url, headers, forwardClientHeaders: r.definition.forward_client_headers ?? false, timeoutMs, schema, permissions });
    } catch (e) {
      unsupported.push(`${what} (${(e as Error).message})`);
    }
  }
  return { models, unsupported };
}

/** What a role sees of the remote schemas: SDL of their types, and its root field lines by remote schema. */
export interface RemoteSdl {
  types: string[];
  query: Array<{ remote: string; field: string; line: string }>;
  mutation: Array<{ remote: string; field: string; line: string }>;
}

/** The SDL lines of the fields of a root type (printType prints them, one field per block). */
function fieldLines(type: GraphQLObjectType): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of Object.keys(type.getFields())) {
    // Printing a one-field copy keeps descriptions, arguments and directives exactly as graphql-js prints them.
    const one = new GraphQLObjectType({ name: type.name, fields: { [name]: type.toConfig().fields[name]! } });
    const text = printType(one);
    out.set(name, text.slice(text.indexOf('{') + 1, text.lastIndexOf('}')).replace(/^\n|\n$/g, '').replace(/^ {2}/gm, ''));
  }
  return out;
}

export function remoteSdlFor(role: string, models: readonly RemoteSchemaModel[]): RemoteSdl {
  const out: RemoteSdl = { types: [], query: [], mutation: [] };
  for (const m of models) {
    const allowed = m.permissions ? (role === 'admin' ? undefined : (m.permissions.get(role) ?? { query: new Set<string>(), mutation: new Set<string>() })) : undefined;
    const roots = new Set([m.schema.getQueryType()?.name, m.schema.getMutationType()?.name, m.schema.getSubscriptionType()?.name]);
    let used = false;
    for (const [kind, type] of [['query', m.schema.getQueryType()], ['mutation', m.schema.getMutationType()]] as const) {
      if (!type) continue;
      for (const [field, line] of fieldLines(type)) {
        if (allowed && !allowed[kind].has(field)) continue;
        out[kind].push({ remote: m.name, field, line });
        used = true;
      }
    }
    if (!used) continue;
    for (const t of Object.values(m.schema.getTypeMap())) {
      if (roots.has(t.name) || isIntrospectionType(t) || isSpecifiedScalarType(t)) continue;
      out.types.push(printType(t));
    }
  }
  return out;
}

/**
 * Forwards part of an operation to a remote schema. Answers `{data, errors}` as the remote did; a transport
 * failure throws (the caller turns it into Hasura's error).
 */
export async function forwardToRemote(
  m: RemoteSchemaModel,
  request: { query: string; variables: Record<string, unknown>; operationName?: string },
  session: Readonly<Record<string, string>>,
  clientHeaders: Readonly<Record<string, string>>,
): Promise<{ data?: Record<string, unknown> | null; errors?: Array<Record<string, unknown>> }> {
  const headers: Record<string, string> = {};
  if (m.forwardClientHeaders) {
    for (const [k, v] of Object.entries(clientHeaders)) {
      const key = k.toLowerCase();
      if (key.startsWith('x-hasura-') || ['content-length', 'host', 'connection', 'content-type', 'accept-encoding'].includes(key)) continue;
      headers[key] = v;
    }
  }
  for (const [k, v] of Object.entries(session)) headers[k.toLowerCase()] = v;
  for (const [k, v] of m.headers) headers[k.toLowerCase()] = v;
  headers['content-type'] = 'application/json';
  const res = await fetch(m.url, { method: 'POST', headers, body: JSON.stringify(request), signal: AbortSignal.timeout(m.timeoutMs) });
  const text = await res.text();
  let body: { data?: Record<string, unknown> | null; errors?: Array<Record<string, unknown>> };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`remote schema "${m.name}" answered HTTP ${res.status} without JSON`);
  }
  if (!body || typeof body !== 'object' || (!('data' in body) && !('errors' in body))) throw new Error(`remote schema "${m.name}" answered HTTP ${res.status} without data or errors`);
  return body;
}
