/**
 * An in-test stand-in for Hasura's Metadata API (`POST /v1/metadata`), as strict as the documented
 * semantics (reference/hasura.md §4.2): admin secret check, export_metadata v1/v2, replace_metadata v2 with
 * optimistic concurrency (409 `conflict` on a stale resource_version), consistency checking against the
 * tables that exist in the "database", get_inconsistent_metadata, and Hasura's error shapes.
 *
 * Metadata it is given is validated like the engine would: unknown shapes, missing fields, duplicate
 * identities and references to undefined custom types are 400s, so a test fails on anything Hasura rejects.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HASURA_SCALAR_NAMES } from '../../src/core/hasura-scalars.js';

type Json = Record<string, unknown>;

export interface FakeHasuraOptions {
  adminSecret: string;
  /** `schema.table` names that exist in the database (tracking anything else is inconsistent). */
  tables?: Iterable<string>;
  /** `schema.function` names that exist in the database. */
  functions?: Iterable<string>;
  metadata?: Json;
}

export interface RecordedCall {
  type: string;
  body: Json;
  status: number;
}

const BUILTIN_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID', ...HASURA_SCALAR_NAMES]);

class HasuraError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path = '$',
    readonly internal?: unknown,
  ) {
    super(message);
  }
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function named(type: unknown): string {
  return String(type).replace(/[[\]!\s]/g, '');
}

export class FakeHasuraMetadata {
  private server: Server | undefined;
  metadata: Json;
  resourceVersion = 1;
  readonly tables: Set<string>;
  readonly functions: Set<string>;
  readonly calls: RecordedCall[] = [];
  /** Bumps the version right before the next N replace_metadata calls are handled (another writer). */
  concurrentWritesBeforeReplace = 0;
  /** Answers the next request with this raw response instead (for 500s and garbage). */
  nextRaw: { status: number; body: string; contentType?: string } | undefined;
  /** Answers every request with this raw response. */
  alwaysRaw: { status: number; body: string; contentType?: string } | undefined;

  constructor(private readonly opts: FakeHasuraOptions) {
    this.tables = new Set(opts.tables ?? []);
    this.functions = new Set(opts.functions ?? []);
    this.metadata = structuredClone(opts.metadata ?? { version: 3, sources: [] });
  }

  get url(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private send(res: ServerResponse, status: number, body: unknown, type?: string) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
    this.calls.push({ type: type ?? '?', body: {}, status });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = this.nextRaw ?? this.alwaysRaw;
    if (raw) {
      this.nextRaw = undefined;
      res.writeHead(raw.status, { 'content-type': raw.contentType ?? 'text/html' });
      res.end(raw.body);
      this.calls.push({ type: 'raw', body: {}, status: raw.status });
      return;
    }
    let type = '?';
    try {
      if (req.method !== 'POST' || req.url !== '/v1/metadata') throw new HasuraError(404, 'not-found', 'resource does not exist');
      if (req.headers['x-hasura-admin-secret'] !== this.opts.adminSecret) {
        throw new HasuraError(401, 'access-denied', 'invalid x-hasura-admin-secret/x-hasura-access-key');
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw new HasuraError(400, 'parse-failed', 'Error in $: Failed reading: not a valid json value');
      }
      if (!isObj(body) || typeof body.type !== 'string') throw new HasuraError(400, 'parse-failed', 'key "type" not found', '$');
      type = body.type;
      const result = this.dispatch(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
      this.calls.push({ type, body, status: 200 });
    } catch (e) {
      if (e instanceof HasuraError) {
        this.send(res, e.status, { path: e.path, error: e.message, code: e.code, ...(e.internal !== undefined ? { internal: e.internal } : {}) }, type);
      } else {
        this.send(res, 500, { path: '$', error: 'internal error', code: 'unexpected' }, type);
      }
    }
  }

  private dispatch(body: Json): unknown {
    const args = body.args;
    if (!isObj(args)) throw new HasuraError(400, 'parse-failed', 'key "args" not found', '$');
    switch (body.type) {
      case 'export_metadata':
        if (body.version === 2) return { resource_version: this.resourceVersion, metadata: structuredClone(this.metadata) };
        if (body.version === undefined || body.version === 1) return structuredClone(this.metadata);
        throw new HasuraError(400, 'parse-failed', `unexpected version ${String(body.version)}`, '$.version');
      case 'replace_metadata': {
        if (this.concurrentWritesBeforeReplace > 0) {
          this.concurrentWritesBeforeReplace--;
          this.resourceVersion++;
        }
        if (body.version !== 2) throw new HasuraError(400, 'parse-failed', 'this stand-in implements replace_metadata version 2 only', '$.version');
        if (body.resource_version !== undefined && body.resource_version !== this.resourceVersion) {
          throw new HasuraError(
            409,
            'conflict',
            `metadata resource version referenced (${String(body.resource_version)}) did not match current version`,
          );
        }
        if (!isObj(args.metadata)) throw new HasuraError(400, 'parse-failed', 'key "metadata" not found', '$.args');
        const md = args.metadata;
        validateMetadata(md);
        const inconsistent = this.inconsistencies(md);
        if (inconsistent.length && args.allow_inconsistent_metadata !== true) {
          throw new HasuraError(400, 'unexpected', 'cannot continue due to inconsistent metadata', '$.args', inconsistent);
        }
        this.metadata = structuredClone(md);
        this.resourceVersion++;
        return { is_consistent: inconsistent.length === 0, inconsistent_objects: inconsistent };
      }
      case 'pg_track_table':
        return this.trackTable(args);
      case 'pg_create_event_trigger':
        return this.createEventTrigger(args);
      case 'pg_delete_event_trigger':
        return this.deleteEventTrigger(args);
      case 'get_inconsistent_metadata': {
        const inconsistent = this.inconsistencies(this.metadata);
        return { is_consistent: inconsistent.length === 0, inconsistent_objects: inconsistent };
      }
      default:
        throw new HasuraError(400, 'parse-failed', `unknown metadata command "${String(body.type)}"`, '$.type');
    }
  }

  private sourceOf(args: Json, path: string): Json {
    const name = args.source === undefined ? 'default' : args.source;
    if (typeof name !== 'string') throw new HasuraError(400, 'parse-failed', 'expected a string', `${path}.source`);
    const src = ((this.metadata.sources as Json[]) ?? []).find((s) => s.name === name);
    if (!src) throw new HasuraError(400, 'not-exists', `source with name "${name}" does not exist`, path);
    return src;
  }

  private qualifiedTable(value: unknown, path: string): { schema: string; name: string } {
    if (typeof value === 'string') return { schema: 'public', name: value };
    if (!isObj(value) || typeof value.name !== 'string' || (value.schema !== undefined && typeof value.schema !== 'string')) {
      throw new HasuraError(400, 'parse-failed', 'expected a table name or {schema, name}', `${path}.table`);
    }
    return { schema: (value.schema as string | undefined) ?? 'public', name: value.name };
  }

  /** `pg_track_table`: the table must exist in the database and not be tracked yet. */
  private trackTable(args: Json): Json {
    const allowed = new Set(['source', 'table', 'configuration', 'is_enum', 'apollo_federation_config']);
    for (const k of Object.keys(args)) if (!allowed.has(k)) throw new HasuraError(400, 'parse-failed', `unexpected key "${k}"`, `$.args.${k}`);
    const src = this.sourceOf(args, '$.args');
    const t = this.qualifiedTable(args.table, '$.args');
    if (!this.tables.has(`${t.schema}.${t.name}`)) throw new HasuraError(400, 'invalid-configuration', `no such table/view exists in source: "${t.schema}.${t.name}"`, '$.args');
    const tables = (src.tables as Json[]) ?? [];
    if (tables.some((x) => (x.table as Json).schema === t.schema && (x.table as Json).name === t.name)) {
      throw new HasuraError(400, 'already-tracked', `view/table already tracked: "${t.schema}.${t.name}"`, '$.args');
    }
    tables.push({ table: t, ...(isObj(args.configuration) ? { configuration: args.configuration } : {}) });
    src.tables = tables;
    this.resourceVersion++;
    return { message: 'success' };
  }

  /** `pg_create_event_trigger`, with the engine's argument checks (reference/hasura.md §2.4). */
  private createEventTrigger(args: Json): Json {
    const allowed = new Set([
      'name', 'source', 'table', 'webhook', 'webhook_from_env', 'insert', 'update', 'delete', 'enable_manual', 'retry_conf', 'headers',
      'replace', 'request_transform', 'response_transform', 'cleanup_config', 'trigger_on_replication',
    ]);
    for (const k of Object.keys(args)) if (!allowed.has(k)) throw new HasuraError(400, 'parse-failed', `unexpected key "${k}"`, `$.args.${k}`);
    if (typeof args.name !== 'string' || !TRIGGER_NAME.test(args.name)) throw new HasuraError(400, 'parse-failed', 'invalid event trigger name', '$.args.name');
    const src = this.sourceOf(args, '$.args');
    const t = this.qualifiedTable(args.table, '$.args');
    if ((args.webhook === undefined) === (args.webhook_from_env === undefined)) throw new HasuraError(400, 'parse-failed', 'exactly one of webhook or webhook_from_env is required', '$.args');
    if (args.webhook !== undefined && typeof args.webhook !== 'string') throw new HasuraError(400, 'parse-failed', 'webhook must be a string', '$.args.webhook');
    const ops: Json = {};
    for (const op of ['insert', 'update', 'delete'] as const) {
      const spec = args[op];
      if (spec === undefined || spec === null) continue;
      if (!isObj(spec)) throw new HasuraError(400, 'parse-failed', 'expected an object', `$.args.${op}`);
      const cols = spec.columns;
      if (cols !== '*' && !(Array.isArray(cols) && cols.every((c) => typeof c === 'string'))) throw new HasuraError(400, 'parse-failed', 'columns must be "*" or a list of column names', `$.args.${op}.columns`);
      if (spec.payload !== undefined && spec.payload !== '*' && !(Array.isArray(spec.payload) && spec.payload.every((c) => typeof c === 'string'))) {
        throw new HasuraError(400, 'parse-failed', 'payload must be "*" or a list of column names', `$.args.${op}.payload`);
      }
      ops[op] = spec;
    }
    if (args.enable_manual !== undefined && typeof args.enable_manual !== 'boolean') throw new HasuraError(400, 'parse-failed', 'enable_manual must be a boolean', '$.args.enable_manual');
    if (!Object.keys(ops).length && args.enable_manual !== true) {
      throw new HasuraError(400, 'parse-failed', 'atleast one amongst insert/update/delete/enable_manual spec must be provided', '$.args');
    }
    const retry = args.retry_conf;
    if (retry !== undefined) {
      if (!isObj(retry)) throw new HasuraError(400, 'parse-failed', 'expected an object', '$.args.retry_conf');
      for (const [k, v] of Object.entries(retry)) {
        if (!['num_retries', 'interval_sec', 'timeout_sec'].includes(k)) throw new HasuraError(400, 'parse-failed', `unexpected key "${k}"`, `$.args.retry_conf.${k}`);
        if (!Number.isInteger(v) || (v as number) < 0) throw new HasuraError(400, 'parse-failed', `${k} must be a non-negative integer`, `$.args.retry_conf.${k}`);
      }
    }
    for (const h of (args.headers as unknown[]) ?? []) {
      if (!isObj(h) || typeof h.name !== 'string' || (h.value === undefined) === (h.value_from_env === undefined)) {
        throw new HasuraError(400, 'parse-failed', 'a header needs a name and one of value, value_from_env', '$.args.headers');
      }
    }
    const tables = (src.tables as Json[]) ?? [];
    const entry = tables.find((x) => (x.table as Json).schema === t.schema && (x.table as Json).name === t.name);
    if (!entry) throw new HasuraError(400, 'not-exists', `table "${t.schema}.${t.name}" does not exist`, '$.args.table');
    const holder = tables.find((x) => ((x.event_triggers as Json[]) ?? []).some((e) => e.name === args.name));
    if (holder && args.replace !== true) throw new HasuraError(400, 'already-exists', `Event trigger with name "${args.name}" already exists`, '$.args');
    if (!holder && args.replace === true) throw new HasuraError(400, 'not-exists', `event trigger "${args.name}" does not exist`, '$.args');
    if (holder && holder !== entry) throw new HasuraError(400, 'already-exists', `Event trigger with name "${args.name}" already exists on another table`, '$.args');
    const trigger: Json = {
      name: args.name,
      definition: { enable_manual: args.enable_manual ?? false, ...ops },
      retry_conf: { num_retries: 0, interval_sec: 10, timeout_sec: 60, ...(isObj(retry) ? retry : {}) },
      ...(args.webhook !== undefined ? { webhook: args.webhook } : { webhook_from_env: args.webhook_from_env }),
      ...(Array.isArray(args.headers) && args.headers.length ? { headers: args.headers } : {}),
    };
    const list = ((entry.event_triggers as Json[]) ?? []).filter((e) => e.name !== args.name);
    list.push(trigger);
    entry.event_triggers = list;
    this.resourceVersion++;
    return { message: 'success' };
  }

  /** `pg_delete_event_trigger {name, source}`. */
  private deleteEventTrigger(args: Json): Json {
    for (const k of Object.keys(args)) if (k !== 'name' && k !== 'source') throw new HasuraError(400, 'parse-failed', `unexpected key "${k}"`, `$.args.${k}`);
    if (typeof args.name !== 'string') throw new HasuraError(400, 'parse-failed', 'key "name" not found', '$.args');
    const src = this.sourceOf(args, '$.args');
    const holder = ((src.tables as Json[]) ?? []).find((x) => ((x.event_triggers as Json[]) ?? []).some((e) => e.name === args.name));
    if (!holder) throw new HasuraError(400, 'not-exists', `event trigger "${args.name}" does not exist`, '$.args');
    const rest = ((holder.event_triggers as Json[]) ?? []).filter((e) => e.name !== args.name);
    if (rest.length) holder.event_triggers = rest;
    else delete holder.event_triggers;
    this.resourceVersion++;
    return { message: 'success' };
  }

  /** Tracked tables and functions that do not exist in the database, and relationships to untracked tables. */
  inconsistencies(md: Json): Json[] {
    const out: Json[] = [];
    const tracked = new Set<string>();
    for (const s of (md.sources as Json[]) ?? []) {
      for (const t of (s.tables as Json[]) ?? []) tracked.add(`${String(s.name)}/${(t.table as Json).schema}.${(t.table as Json).name}`);
      for (const f of (s.functions as Json[]) ?? []) {
        const q = f.function as { schema: string; name: string };
        if (!this.functions.has(`${q.schema}.${q.name}`)) {
          out.push({ definition: q, name: `function ${q.schema}.${q.name} in source ${String(s.name)}`, reason: `Inconsistent object: no such function exists: "${q.schema}.${q.name}"`, type: 'function' });
        }
      }
    }
    const ct = isObj(md.custom_types) ? md.custom_types : {};
    for (const o of (ct.objects as Json[]) ?? []) {
      for (const r of (o.relationships as Json[]) ?? []) {
        const rt = r.remote_table as { schema: string; name: string };
        const src = typeof r.source === 'string' ? r.source : 'default';
        if (!tracked.has(`${src}/${rt.schema}.${rt.name}`)) {
          out.push({ definition: r, name: `custom_type ${String(o.name)}`, reason: `Inconsistent object: table "${rt.schema}.${rt.name}" is not tracked in source "${src}"`, type: 'custom_type' });
        }
      }
    }
    for (const s of (md.sources as Json[]) ?? []) {
      for (const t of (s.tables as Json[]) ?? []) {
        const q = t.table as { schema: string; name: string };
        if (!this.tables.has(`${q.schema}.${q.name}`)) {
          out.push({
            definition: { schema: q.schema, name: q.name },
            name: `table ${q.schema}.${q.name} in source ${String(s.name)}`,
            reason: `Inconsistent object: no such table/view exists in source: "${q.schema}.${q.name}"`,
            type: 'table',
          });
        }
      }
    }
    return out;
  }
}

const TRIGGER_NAME = /^[A-Za-z]+[A-Za-z0-9_-]*$/;

/** The engine's parse-time checks for the parts our installer writes. */
export function validateMetadata(md: Json): void {
  const bad = (path: string, msg: string): never => {
    throw new HasuraError(400, 'parse-failed', msg, path);
  };
  if (md.version !== 3) bad('$.args.metadata.version', 'expected version 3');
  if (!Array.isArray(md.sources)) bad('$.args.metadata.sources', 'expected an array');
  const seen = (what: string, path: string) => {
    const set = new Set<string>();
    return (name: string) => {
      if (set.has(name)) throw new HasuraError(400, 'already-exists', `${what} ${name} already exists`, path);
      set.add(name);
    };
  };
  const source = seen('source', '$.args.metadata.sources');
  (md.sources as unknown[]).forEach((s, i) => {
    const p = `$.args.metadata.sources[${i}]`;
    if (!isObj(s) || typeof s.name !== 'string' || typeof s.kind !== 'string' || !isObj(s.configuration)) bad(p, 'source needs name, kind, configuration');
    const src = s as Json;
    source(src.name as string);
    if (!Array.isArray(src.tables)) bad(`${p}.tables`, 'expected an array');
    const table = seen('table', `${p}.tables`);
    const trigger = seen('event trigger', `${p}.tables`);
    (src.tables as unknown[]).forEach((t, j) => {
      const tp = `${p}.tables[${j}]`;
      if (!isObj(t) || !isObj(t.table) || typeof t.table.name !== 'string' || typeof t.table.schema !== 'string') bad(tp, 'table needs {schema, name}');
      const entry = t as Json & { table: { schema: string; name: string } };
      table(`${entry.table.schema}.${entry.table.name}`);
      for (const et of (entry.event_triggers as unknown[]) ?? []) {
        if (!isObj(et) || typeof et.name !== 'string' || !TRIGGER_NAME.test(et.name)) bad(`${tp}.event_triggers`, 'invalid event trigger name');
        const e = et as Json;
        trigger(e.name as string);
        if (!e.webhook === !e.webhook_from_env) bad(`${tp}.event_triggers`, 'exactly one of webhook and webhook_from_env is required');
        if (!isObj(e.definition)) bad(`${tp}.event_triggers`, 'definition is required');
        const d = e.definition as Json;
        if (!d.insert && !d.update && !d.delete && !d.enable_manual) bad(`${tp}.event_triggers`, 'at least one operation is required');
        if (!isObj(e.retry_conf)) bad(`${tp}.event_triggers`, 'retry_conf is required in exported metadata');
      }
    });
  });
  (md.sources as Json[]).forEach((src, i) => {
    const fn = seen('function', `$.args.metadata.sources[${i}].functions`);
    for (const f of (src.functions as unknown[]) ?? []) {
      const fp = `$.args.metadata.sources[${i}].functions`;
      if (!isObj(f) || !isObj(f.function) || typeof f.function.name !== 'string' || typeof f.function.schema !== 'string') bad(fp, 'function needs {schema, name}');
      const entry = f as Json & { function: { schema: string; name: string } };
      fn(`${entry.function.schema}.${entry.function.name}`);
      if (entry.configuration !== undefined) {
        if (!isObj(entry.configuration)) bad(fp, 'configuration must be an object');
        const exposed = (entry.configuration as Json).exposed_as;
        if (exposed !== undefined && exposed !== 'query' && exposed !== 'mutation') bad(fp, 'exposed_as must be query or mutation');
      }
      for (const p of (entry.permissions as unknown[]) ?? []) if (!isObj(p) || typeof p.role !== 'string') bad(fp, 'permission needs a role');
    }
  });
  const remote = seen('remote schema', '$.args.metadata.remote_schemas');
  for (const r of (md.remote_schemas as unknown[]) ?? []) {
    const rp = '$.args.metadata.remote_schemas';
    if (!isObj(r) || typeof r.name !== 'string' || !isObj(r.definition)) bad(rp, 'remote schema needs name and definition');
    const rs = r as Json & { definition: Json };
    remote(rs.name as string);
    if (!rs.definition.url === !rs.definition.url_from_env) bad(rp, 'exactly one of url and url_from_env is required');
    for (const h of (rs.definition.headers as unknown[]) ?? []) {
      if (!isObj(h) || typeof h.name !== 'string' || (h.value === undefined) === (h.value_from_env === undefined)) bad(rp, 'a header needs a name and one of value, value_from_env');
    }
    if (rs.definition.timeout_seconds !== undefined && !Number.isInteger(rs.definition.timeout_seconds)) bad(rp, 'timeout_seconds must be an integer');
    for (const p of (rs.permissions as unknown[]) ?? []) {
      if (!isObj(p) || typeof p.role !== 'string' || !isObj(p.definition) || typeof p.definition.schema !== 'string') bad(rp, 'permission needs a role and definition.schema');
    }
  }
  const types = new Map<string, string>();
  const ct = isObj(md.custom_types) ? md.custom_types : {};
  for (const kind of ['scalars', 'enums', 'input_objects', 'objects']) {
    for (const t of (ct[kind] as unknown[]) ?? []) {
      if (!isObj(t) || typeof t.name !== 'string') bad(`$.args.metadata.custom_types.${kind}`, 'type needs a name');
      const ty = t as Json;
      if (types.has(ty.name as string)) throw new HasuraError(400, 'already-exists', `custom type ${String(ty.name)} is defined more than once`, '$.args.metadata.custom_types');
      types.set(ty.name as string, kind);
    }
  }
  const known = (n: string) => BUILTIN_SCALARS.has(n) || types.has(n);
  for (const o of (ct.objects as Json[]) ?? []) {
    const fields = new Set(((o.fields as Json[]) ?? []).map((f) => f.name));
    for (const r of (o.relationships as unknown[]) ?? []) {
      const rp = `$.args.metadata.custom_types.objects(${String(o.name)}).relationships`;
      if (!isObj(r) || typeof r.name !== 'string' || (r.type !== 'object' && r.type !== 'array') || !isObj(r.remote_table) || !isObj(r.field_mapping)) {
        bad(rp, 'relationship needs name, type (object|array), remote_table and field_mapping');
      }
      for (const k of Object.keys((r as Json).field_mapping as Json)) if (!fields.has(k)) bad(rp, `field_mapping: ${String(o.name)} has no field ${k}`);
    }
  }
  for (const kind of ['input_objects', 'objects']) {
    for (const t of (ct[kind] as Json[]) ?? []) {
      for (const f of (t.fields as Json[]) ?? []) {
        if (!known(named(f.type))) bad('$.args.metadata.custom_types', `type ${named(f.type)} of ${String(t.name)}.${String(f.name)} is not defined`);
      }
    }
  }
  const action = seen('action', '$.args.metadata.actions');
  for (const a of (md.actions as unknown[]) ?? []) {
    if (!isObj(a) || typeof a.name !== 'string' || !isObj(a.definition)) bad('$.args.metadata.actions', 'action needs name and definition');
    const ac = a as Json & { definition: Json };
    action(ac.name as string);
    const d = ac.definition;
    if (typeof d.handler !== 'string') bad('$.args.metadata.actions', `action ${String(ac.name)}: handler is required`);
    if (typeof d.output_type !== 'string') bad('$.args.metadata.actions', `action ${String(ac.name)}: output_type is required`);
    if (!known(named(d.output_type))) bad('$.args.metadata.actions', `action ${String(ac.name)}: output type ${named(d.output_type)} is not defined`);
    for (const arg of (d.arguments as Json[]) ?? []) {
      if (!known(named(arg.type))) bad('$.args.metadata.actions', `action ${String(ac.name)}: argument type ${named(arg.type)} is not defined`);
    }
    if (d.type === 'query' && d.kind === 'asynchronous') bad('$.args.metadata.actions', 'queries cannot be asynchronous');
    for (const p of (ac.permissions as unknown[]) ?? []) if (!isObj(p) || typeof p.role !== 'string') bad('$.args.metadata.actions', 'permission needs a role');
  }
  const cron = seen('cron trigger', '$.args.metadata.cron_triggers');
  for (const c of (md.cron_triggers as unknown[]) ?? []) {
    if (!isObj(c) || typeof c.name !== 'string' || typeof c.webhook !== 'string' || typeof c.schedule !== 'string') {
      bad('$.args.metadata.cron_triggers', 'cron trigger needs name, webhook, schedule');
    }
    const cr = c as Json;
    cron(cr.name as string);
    if (typeof cr.include_in_metadata !== 'boolean') bad('$.args.metadata.cron_triggers', 'include_in_metadata is required');
    const rc = cr.retry_conf as Json | undefined;
    if (rc && ('interval_sec' in rc || 'num_retries' in rc === false)) bad('$.args.metadata.cron_triggers', 'cron retry_conf takes num_retries, retry_interval_seconds, timeout_seconds, tolerance_seconds');
  }
}
