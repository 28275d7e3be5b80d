/**
 * Emitting: one message per event (once per idempotency key), one delivery per matching enabled endpoint, and a
 * job per delivery. The message body — the exact bytes every attempt signs and sends — is fixed here.
 */
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import type { Db, Queryable } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config.js';
import { webhooksError } from './errors.js';
import { batcherPer, StatementBatcher } from '../../../core/statement-batcher.js';

export const EVENT_TYPE_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/;
export const CHANNEL = /^[A-Za-z0-9_.:-]{1,100}$/;

export const emitInput = z.object({
  type: z.string().max(100).regex(EVENT_TYPE_NAME, 'dot-separated lower-case words, e.g. message.created'),
  payload: z.unknown().refine((v) => v !== undefined, { message: 'is required' }),
  idempotencyKey: z.string().min(1).max(255).nullish(),
  channels: z.array(z.string().regex(CHANNEL, 'letters, digits and _ . : -, at most 100')).max(10).nullish(),
  orderingKey: z.string().min(1).max(255).nullish(),
});
export type EmitInput = z.input<typeof emitInput>;

export interface EmitResult {
  messageId: string;
  /** False when the idempotency key was used before: the first message stands, nothing new is sent. */
  created: boolean;
  deliveries: number;
}

export interface WebhookEventType {
  /** Dot-separated, e.g. `message.created`. */
  name: string;
  description: string;
  /** JSON Schema of the payload's `data`. */
  schema?: Record<string, unknown> | null;
  example?: unknown;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<string, ValidateFunction | null>();

function validatorFor(schema: unknown): ValidateFunction | null {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (v === undefined) {
    if (validators.size > 1000) validators.clear();
    try {
      v = ajv.compile(schema as object);
    } catch {
      // A schema Ajv cannot compile checks nothing rather than blocking every emit of the type.
      v = null;
    }
    validators.set(key, v);
  }
  return v;
}

/** Checks a JSON Schema before it is stored, so a broken one is refused where it is written. */
export function schemaProblem(schema: unknown): string | null {
  if (schema == null) return null;
  if (typeof schema !== 'object' || Array.isArray(schema)) return 'must be a JSON Schema object';
  try {
    ajv.compile(schema as object);
    return null;
  } catch (e) {
    return `is not a valid JSON Schema: ${(e as Error).message}`;
  }
}

/**
 * Known event types, kept for a few seconds: every emit needs its type's schema, and at high rates that lookup
 * was a third of the emit's round trips. Only found types are kept, so a type registered a moment ago is seen
 * at once; a schema change or an archive takes effect within EVENT_TYPE_TTL_MS.
 */
const EVENT_TYPE_TTL_MS = 5000;
const eventTypes = new Map<string, { schema: unknown; until: number }>();

async function eventType(db: Queryable, name: string): Promise<{ schema: unknown } | null> {
  const hit = eventTypes.get(name);
  if (hit && hit.until > Date.now()) return hit;
  const t = await db.query<{ schema: unknown }>('select schema from webhooks.event_type where name = $1 and not archived', [name]);
  if (!t.rows[0]) {
    eventTypes.delete(name);
    return null;
  }
  if (eventTypes.size > 10_000) eventTypes.clear();
  const entry = { schema: t.rows[0].schema, until: Date.now() + EVENT_TYPE_TTL_MS };
  eventTypes.set(name, entry);
  return entry;
}

/** Forgets cached event types (after a registration in this process, so its schema applies at once). */
export function forgetEventTypes(names: readonly string[]): void {
  for (const n of names) eventTypes.delete(n);
}

export interface EmitDeps {
  db: Db;
  queue: QueueProvider;
  config: Readonly<WebhooksConfig>;
  log: Logger;
  /** Enqueues the first attempt of each delivery; a lost enqueue is picked up by the dispatcher. */
  enqueueDeliveries(ids: readonly string[]): Promise<void>;
}

/** The JSON every consumer gets: `{type, timestamp, data}` (Standard Webhooks' recommended shape). */
export function messageBody(type: string, data: unknown, at: Date): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data });
}

export async function emit(deps: EmitDeps, raw: EmitInput, opts: { testEndpointId?: string } = {}): Promise<EmitResult> {
  const parsed = emitInput.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`);
    throw webhooksError('webhooks/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
  }
  const input = parsed.data;
  if (input.idempotencyKey) {
    const seen = await deps.db.query<{ id: string }>('select id from webhooks.message where idempotency_key = $1', [input.idempotencyKey]);
    if (seen.rows[0]) return { messageId: seen.rows[0].id, created: false, deliveries: 0 };
  }
  const known = await eventType(deps.db, input.type);
  if (!known) throw webhooksError('webhooks/unknown-event-type', `no event type "${input.type}": register it first`);
  if (known.schema != null) {
    const validate = validatorFor(known.schema);
    if (validate && !validate(input.payload)) {
      const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '(data)'} ${e.message ?? 'is invalid'}`);
      throw webhooksError('webhooks/invalid-payload', `the payload does not match ${input.type}'s schema: ${problems.join('; ')}`, { problems });
    }
  }
  const now = new Date();
  const body = messageBody(input.type, input.payload, now);
  const bytes = Buffer.byteLength(body);
  if (bytes > deps.config.WEBHOOKS_MAX_PAYLOAD_BYTES) {
    throw webhooksError('webhooks/payload-too-large', `the message is ${bytes} bytes, more than ${deps.config.WEBHOOKS_MAX_PAYLOAD_BYTES}`);
  }
  const r = await messageInserts(deps.db).call({
    type: input.type,
    payload: input.payload,
    body,
    idempotencyKey: input.idempotencyKey ?? null,
    channels: input.channels ?? null,
    orderingKey: input.orderingKey ?? null,
    testEndpointId: opts.testEndpointId ?? null,
    createdAt: now,
  });
  if (!r) {
    // Two emits with one key raced past the first check: the other one's message stands.
    const seen = await deps.db.query<{ id: string }>('select id from webhooks.message where idempotency_key = $1', [input.idempotencyKey]);
    return { messageId: seen.rows[0]!.id, created: false, deliveries: 0 };
  }
  if (r.deliveries.length) {
    await deps.enqueueDeliveries(r.deliveries).catch((e: unknown) => {
      deps.log.warn({ err: e, messageId: r.id }, 'webhooks: enqueueing deliveries failed; the dispatcher will send them');
    });
  }
  return { messageId: r.id, created: true, deliveries: r.deliveries.length };
}

interface NewMessage {
  type: string;
  payload: unknown;
  body: string;
  idempotencyKey: string | null;
  channels: string[] | null;
  orderingKey: string | null;
  testEndpointId: string | null;
  createdAt: Date;
}

/**
 * Messages and their deliveries, for many emits in one statement (one round trip, atomic): emits made in the
 * same turn share it. Ids are made here so each emit finds its own row; rows are inserted in emit order, so
 * `seq` (the FIFO order) follows the order the emits were made. An emit whose idempotency key was taken
 * (by an earlier message, or by an earlier emit of the same batch) gets null.
 */
async function insertMessages(db: Queryable, ms: readonly NewMessage[]): Promise<({ id: string; deliveries: string[] } | null)[]> {
  const firstOfKey = new Map<string, number>();
  const rows: Record<string, unknown>[] = [];
  const ids = ms.map((m, i) => {
    if (m.idempotencyKey != null) {
      if (firstOfKey.has(m.idempotencyKey)) return null;
      firstOfKey.set(m.idempotencyKey, i);
    }
    const id = randomUUID();
    rows.push({
      id,
      event_type: m.type,
      // As text: a JSON null payload must stay a JSON null, which the record conversion would make SQL NULL.
      payload: JSON.stringify(m.payload),
      body: m.body,
      idempotency_key: m.idempotencyKey,
      channels: m.channels,
      ordering_key: m.orderingKey,
      test_endpoint_id: m.testEndpointId,
      created_at: m.createdAt.toISOString(),
      n: rows.length,
    });
    return id;
  });
  const r = await db.query<{ id: string; deliveries: string[] | null }>(
    `with input as (
       select * from jsonb_to_recordset($1::jsonb) as i(id uuid, event_type text, payload text, body text, idempotency_key text,
              channels text[], ordering_key text, test_endpoint_id uuid, created_at timestamptz, n bigint)),
     m as (
       insert into webhooks.message (id, event_type, payload, body, idempotency_key, channels, ordering_key, test_endpoint_id, created_at)
       select id, event_type, payload::jsonb, body, idempotency_key, channels, ordering_key, test_endpoint_id, created_at from input order by n
       on conflict (idempotency_key) do nothing
       returning id, seq, event_type, channels, ordering_key, test_endpoint_id),
     d as (
       insert into webhooks.delivery (message_id, endpoint_id, ordering_key, message_seq)
       select m.id, e.id, m.ordering_key, m.seq from m join webhooks.endpoint e on e.enabled
        where case when m.test_endpoint_id is not null then e.id = m.test_endpoint_id
                   else (e.event_types is null or m.event_type = any(e.event_types))
                        and (e.channels is null or e.channels && coalesce(m.channels, '{}'::text[])) end
       returning id, message_id)
     select m.id, array_agg(d.id) filter (where d.id is not null) as deliveries from m left join d on d.message_id = m.id group by m.id`,
    [JSON.stringify(rows)],
  );
  const byId = new Map(r.rows.map((row) => [row.id, row.deliveries ?? []]));
  return ids.map((id) => {
    const deliveries = id ? byId.get(id) : undefined;
    return id && deliveries ? { id, deliveries } : null;
  });
}

const messageInserts = batcherPer((db: Queryable) => new StatementBatcher<NewMessage, { id: string; deliveries: string[] } | null>((ms) => insertMessages(db, ms)));

/**
 * Adds or updates event types in the catalogue (plugins call it at start; an operator's description edits to a
 * type the code no longer describes stay). Safe to repeat.
 */
export async function registerEventTypes(db: Queryable, types: readonly WebhookEventType[], source: string): Promise<void> {
  for (const t of types) {
    if (!EVENT_TYPE_NAME.test(t.name) || t.name.length > 100) throw new Error(`webhook event type "${t.name}": dot-separated lower-case words, e.g. message.created`);
    const problem = schemaProblem(t.schema);
    if (problem) throw new Error(`webhook event type "${t.name}": schema ${problem}`);
  }
  if (!types.length) return;
  forgetEventTypes(types.map((t) => t.name));
  await db.query(
    `insert into webhooks.event_type (name, description, schema, example, source)
       select u.name, u.description, u.schema, u.example, $5 from unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[]) as u(name, description, schema, example)
     on conflict (name) do update set description = excluded.description, schema = excluded.schema, example = excluded.example,
       source = excluded.source, archived = false, updated_at = now()`,
    [
      types.map((t) => t.name),
      types.map((t) => t.description),
      types.map((t) => (t.schema == null ? null : JSON.stringify(t.schema))),
      types.map((t) => (t.example === undefined ? null : JSON.stringify(t.example))),
      source,
    ],
  );
}

/** Adds the event types that do not exist yet; existing ones (and an operator's edits to them) stay. */
export async function ensureEventTypes(db: Queryable, types: readonly WebhookEventType[], source: string): Promise<void> {
  if (!types.length) return;
  await db.query(
    `insert into webhooks.event_type (name, description, source)
       select u.name, u.description, $3 from unnest($1::text[], $2::text[]) as u(name, description)
     on conflict (name) do nothing`,
    [types.map((t) => t.name), types.map((t) => t.description.slice(0, 1000)), source],
  );
}
