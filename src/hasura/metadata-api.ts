/**
 * Hasura's Metadata API (`POST /v1/metadata`) and `nself-plugins apply`: export the live metadata, merge the
 * plugins with the same planner the file installer uses, and replace it under optimistic concurrency
 * (`resource_version`), retrying from a fresh export when another writer got there first.
 */
import type { EventTriggerJson, Fragment, QualifiedTable } from './types.js';
import { ownedProjectTrigger, type RenderedTrigger } from './project-triggers.js';
import { stableJson } from './yaml-io.js';
import { planInstall, type Op, type PluginChange } from './merge.js';
import type { HasuraMetadata } from './types.js';

export class MetadataApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    /** Hasura's `internal` detail (for replace_metadata: the inconsistent objects). */
    readonly internal?: unknown,
  ) {
    super(message);
    this.name = 'MetadataApiError';
  }
}

export class ResourceVersionConflict extends MetadataApiError {}

export interface InconsistentObject {
  type?: string;
  name?: string;
  reason?: string;
  definition?: unknown;
}

export interface MetadataApiOptions {
  /** `http://hasura:8080` or the full `…/v1/metadata` URL. */
  endpoint: string;
  adminSecret?: string;
  /** Per request; Hasura answers metadata calls in well under this. */
  timeoutMs?: number;
}

function metadataUrl(endpoint: string): string {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new MetadataApiError(`--endpoint ${JSON.stringify(endpoint)} is not a URL (expected e.g. http://localhost:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new MetadataApiError(`--endpoint must be an http(s) URL, got ${u.protocol}`);
  if (!/\/v1\/metadata\/?$/.test(u.pathname)) u.pathname = u.pathname.replace(/\/$/, '') + '/v1/metadata';
  return u.toString();
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || '(empty)';
}

export function describeInconsistency(o: InconsistentObject): string {
  // Hasura's `name` already says what it is ("table public.x in source default").
  const what = o.name ?? ([o.type, JSON.stringify(o.definition)].filter(Boolean).join(' ') || 'object');
  return `${what}: ${o.reason ?? 'inconsistent'}`;
}

export class MetadataApi {
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: MetadataApiOptions) {
    this.url = metadataUrl(opts.endpoint);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async call<T>(body: Record<string, unknown>): Promise<T> {
    const type = String(body.type);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.adminSecret ? { 'x-hasura-admin-secret': this.opts.adminSecret } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new MetadataApiError(`cannot reach Hasura at ${this.url} (${type}): ${why}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new MetadataApiError(`Hasura at ${this.url} answered ${type} with HTTP ${res.status} and a body that is not JSON: ${snippet(text)}`, res.status);
    }
    if (res.ok) return json as T;
    const e = (json ?? {}) as { error?: unknown; code?: unknown; path?: unknown; internal?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const message = typeof e.error === 'string' ? e.error : snippet(text);
    if (res.status === 409 || code === 'conflict') {
      throw new ResourceVersionConflict(`Hasura rejected ${type}: ${message}`, res.status, code, e.internal);
    }
    if (code === 'access-denied' || res.status === 401 || res.status === 403) {
      throw new MetadataApiError(`Hasura rejected the admin secret (HTTP ${res.status}): ${message}; pass --admin-secret or set HASURA_GRAPHQL_ADMIN_SECRET`, res.status, code);
    }
    const at = typeof e.path === 'string' && e.path !== '$' ? ` at ${e.path}` : '';
    throw new MetadataApiError(`Hasura rejected ${type} (HTTP ${res.status}${code ? `, ${code}` : ''})${at}: ${message}`, res.status, code, e.internal);
  }

  async exportMetadata(): Promise<{ resource_version: number; metadata: HasuraMetadata }> {
    const r = await this.call<{ resource_version?: unknown; metadata?: unknown }>({ type: 'export_metadata', version: 2, args: {} });
    const md = r?.metadata as HasuraMetadata | undefined;
    if (typeof r?.resource_version !== 'number' || !md || typeof md !== 'object' || !Array.isArray(md.sources)) {
      throw new MetadataApiError(`Hasura at ${this.url} answered export_metadata without {resource_version, metadata.sources}; is this Hasura v2.x?`);
    }
    return { resource_version: r.resource_version, metadata: md };
  }

  async replaceMetadata(metadata: HasuraMetadata, resourceVersion: number): Promise<{ is_consistent?: boolean; inconsistent_objects?: InconsistentObject[] }> {
    return this.call({
      type: 'replace_metadata',
      version: 2,
      resource_version: resourceVersion,
      args: { allow_inconsistent_metadata: false, metadata },
    });
  }

  async getInconsistentMetadata(): Promise<{ is_consistent: boolean; inconsistent_objects: InconsistentObject[] }> {
    const r = await this.call<{ is_consistent?: unknown; inconsistent_objects?: unknown }>({ type: 'get_inconsistent_metadata', args: {} });
    if (typeof r?.is_consistent !== 'boolean') throw new MetadataApiError(`Hasura answered get_inconsistent_metadata without is_consistent`);
    return { is_consistent: r.is_consistent, inconsistent_objects: Array.isArray(r.inconsistent_objects) ? (r.inconsistent_objects as InconsistentObject[]) : [] };
  }
}

export interface ApplyOptions {
  /** Hasura database (source) for the plugins' tables. */
  source?: string;
  /** Attempts when another writer changes the metadata between export and replace. */
  maxAttempts?: number;
  /** Wait before attempt n+1 is `backoffMs * n` (plus jitter). */
  backoffMs?: number;
}

export interface ApplyResult {
  changes: PluginChange[];
  ops: Op[];
  /** resource_version before and after; equal when there was nothing to change. */
  from: number;
  to: number;
  attempts: number;
  inconsistent: InconsistentObject[];
}

export class InconsistentMetadataError extends MetadataApiError {
  constructor(
    message: string,
    readonly objects: InconsistentObject[],
  ) {
    super(message);
    this.name = 'InconsistentMetadataError';
  }
}

export function pickSource(md: HasuraMetadata, wanted?: string): string {
  if (wanted) return wanted;
  if (md.sources.some((s) => s.name === 'default')) return 'default';
  const pg = md.sources.filter((s) => s.kind === 'postgres' || s.kind === 'pg');
  return pg.length === 1 ? pg[0]!.name : 'default';
}

/**
 * export → merge → replace (with the exported resource_version) → get_inconsistent_metadata.
 * Throws `InconsistentMetadataError` when Hasura rejects the merge as inconsistent (nothing changed then).
 */
export async function applyPlugins(api: MetadataApi, fragments: readonly Fragment[], opts: ApplyOptions = {}): Promise<ApplyResult> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const backoffMs = opts.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    const { resource_version, metadata } = await api.exportMetadata();
    const plan = planInstall(metadata, fragments, { source: pickSource(metadata, opts.source) });
    let to = resource_version;
    if (plan.ops.length > 0) {
      try {
        await api.replaceMetadata(plan.metadata, resource_version);
        to = resource_version + 1;
      } catch (e) {
        if (e instanceof ResourceVersionConflict) {
          if (attempt >= maxAttempts) {
            throw new MetadataApiError(`the metadata kept changing while applying (${attempt} attempts, each rejected with a resource_version conflict); try again`);
          }
          await new Promise((r) => setTimeout(r, backoffMs * attempt + Math.floor(Math.random() * backoffMs)));
          continue;
        }
        if (e instanceof MetadataApiError && Array.isArray(e.internal) && e.internal.length) {
          const objects = e.internal as InconsistentObject[];
          throw new InconsistentMetadataError(
            `Hasura rejected the merged metadata as inconsistent (nothing was changed):\n${objects.map((o) => `  - ${describeInconsistency(o)}`).join('\n')}\n(apply the plugins' migrations first: hasura migrate apply, or nself-plugins migrate)`,
            objects,
          );
        }
        throw e;
      }
    }
    const check = await api.getInconsistentMetadata();
    return { changes: plan.changes, ops: plan.ops, from: resource_version, to, attempts: attempt, inconsistent: check.is_consistent ? [] : check.inconsistent_objects };
  }
}

/* ------------------------------------------------------------------ project triggers */

export interface ProjectTriggersResult {
  created: string[];
  replaced: string[];
  deleted: string[];
  unchanged: string[];
  /** `source/schema.table` of user tables tracked so a trigger could go on them. */
  tracked: string[];
}

const qualified = (t: QualifiedTable) => `${t.schema}.${t.name}`;

/**
 * Brings the project triggers of `plugin` in a running Hasura to exactly `wanted` with the fine-grained calls
 * (`pg_create_event_trigger`, `pg_delete_event_trigger`; `pg_track_table` for a table not tracked yet): the
 * user's tables stay otherwise untouched. The plugin's triggers are recognised by their webhook
 * (`/events/<plugin>/…`), so nothing has to be recorded in the live metadata.
 */
export async function applyProjectTriggers(api: MetadataApi, plugin: string, wanted: readonly RenderedTrigger[]): Promise<ProjectTriggersResult> {
  const { metadata } = await api.exportMetadata();
  const result: ProjectTriggersResult = { created: [], replaced: [], deleted: [], unchanged: [], tracked: [] };
  const existing = new Map<string, { source: string; table: QualifiedTable; trigger: EventTriggerJson }>();
  for (const s of metadata.sources) {
    for (const t of s.tables ?? []) for (const e of t.event_triggers ?? []) existing.set(`${s.name}/${e.name}`, { source: s.name, table: t.table, trigger: e });
  }
  const wantedKeys = new Set(wanted.map((w) => `${w.source}/${w.trigger.name}`));
  for (const [k, e] of existing) {
    if (!ownedProjectTrigger(plugin, e.trigger) || wantedKeys.has(k)) continue;
    await api.call({ type: 'pg_delete_event_trigger', args: { name: e.trigger.name, source: e.source } });
    result.deleted.push(e.trigger.name);
  }
  for (const w of wanted) {
    const k = `${w.source}/${w.trigger.name}`;
    const have = existing.get(k);
    if (have && !ownedProjectTrigger(plugin, have.trigger)) {
      throw new MetadataApiError(`event trigger ${w.trigger.name} already exists on table ${qualified(have.table)} and is not plugin ${plugin}'s; rename or delete it first`);
    }
    const sameTable = have && qualified(have.table) === qualified(w.table);
    if (have && sameTable && stableJson(have.trigger) === stableJson(w.trigger)) {
      result.unchanged.push(w.trigger.name);
      continue;
    }
    if (have && !sameTable) {
      // Moving a trigger to another table is a delete and a create: `replace` keeps the table.
      await api.call({ type: 'pg_delete_event_trigger', args: { name: w.trigger.name, source: w.source } });
    }
    const source = metadata.sources.find((s) => s.name === w.source);
    if (!source) throw new MetadataApiError(`project trigger ${w.trigger.name} is for database ${w.source}, which Hasura does not have`);
    if (!source.tables.some((t) => qualified(t.table) === qualified(w.table))) {
      await api.call({ type: 'pg_track_table', args: { source: w.source, table: { ...w.table } } });
      source.tables.push({ table: { ...w.table } });
      result.tracked.push(`${w.source}/${qualified(w.table)}`);
    }
    const { name, definition, ...delivery } = w.trigger;
    await api.call({
      type: 'pg_create_event_trigger',
      args: { name, source: w.source, table: { ...w.table }, ...definition, ...delivery, replace: !!(have && sameTable) },
    });
    (have && sameTable ? result.replaced : result.created).push(name);
  }
  return result;
}
