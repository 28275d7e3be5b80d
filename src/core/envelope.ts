/**
 * The three bodies Hasura POSTs to handlers (reference/hasura.md §1.1, §2.1, §3.1), parsed exactly.
 * Unknown top-level keys are ignored (newer Hasura versions add fields); everything we read is checked.
 * Failures are `EnvelopeError`s: a 4xx with a message naming the field, never an exception that escapes.
 */
import { z } from 'zod';
import type { HasuraCronPayload, HasuraEventPayload, Session } from './plugin.js';

export class EnvelopeError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly code = 'invalid-request',
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/* ------------------------------------------------------------------ JSON and forbidden keys */

/** Keys that turn naive merges into prototype pollution. Hasura never sends them; we refuse them anywhere. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor']);

/**
 * Throws when any object in `value` has a forbidden key. Iterative, so a deeply nested body cannot
 * overflow the stack.
 */
export function checkForbiddenKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== null && typeof item === 'object') stack.push(item);
      continue;
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) throw new EnvelopeError(`forbidden key "${key}" in request body`);
      const item = (v as Record<string, unknown>)[key];
      if (item !== null && typeof item === 'object') stack.push(item);
    }
  }
}

/**
 * Parses a request body. The key walk only runs when the text could contain a forbidden key (literally or
 * through a \u escape), which keeps it off the path of ordinary Hasura bodies.
 */
export function parseJsonBody(raw: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EnvelopeError('request body is not valid JSON');
  }
  if (raw.includes('__proto__') || raw.includes('constructor') || raw.includes('\\u')) checkForbiddenKeys(value);
  return value;
}

/* ------------------------------------------------------------------ schemas */

const name = z.string().min(1).max(200);
const id = z.string().min(1).max(200);
const timestamp = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO-8601 timestamp' });
/** Session variables: string values only (Hasura sends nothing else). Keys are lower-cased after parsing. */
const sessionVariables = z.record(z.string().max(200), z.string().max(10_000));
const jsonObject = z.record(z.string(), z.unknown());

export const actionEnvelopeSchema = z.object({
  action: z.object({ name }),
  input: jsonObject,
  session_variables: sessionVariables,
  request_query: z.string().nullable().optional(),
});

const OPS = ['INSERT', 'UPDATE', 'DELETE', 'MANUAL'] as const;

const isRow = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);

function wantRow(data: { old: unknown; new: unknown }, field: 'old' | 'new', row: boolean, op: string, ctx: z.RefinementCtx): void {
  const v = data[field];
  if (row ? !isRow(v) : v !== null) {
    ctx.addIssue({ code: 'custom', path: ['data', field], message: `must be ${row ? 'a row object' : 'null'} for ${op}` });
  }
}

/** Hasura's shapes per operation (reference/hasura.md §2.1); MANUAL carries any JSON payload in `new`. */
function checkRowsForOp(e: { op: (typeof OPS)[number]; data: { old: unknown; new: unknown } }, ctx: z.RefinementCtx): void {
  const d = e.data;
  if (e.op === 'INSERT') (wantRow(d, 'old', false, e.op, ctx), wantRow(d, 'new', true, e.op, ctx));
  else if (e.op === 'UPDATE') (wantRow(d, 'old', true, e.op, ctx), wantRow(d, 'new', true, e.op, ctx));
  else if (e.op === 'DELETE') (wantRow(d, 'old', true, e.op, ctx), wantRow(d, 'new', false, e.op, ctx));
  else {
    wantRow(d, 'old', false, e.op, ctx);
    if (d.new === undefined) ctx.addIssue({ code: 'custom', path: ['data', 'new'], message: 'is required' });
  }
}

export const eventEnvelopeSchema = z.object({
  id,
  created_at: timestamp,
  trigger: z.object({ name }),
  table: z.object({ schema: name, name }),
  delivery_info: z.object({
    max_retries: z.number().int().min(0),
    current_retry: z.number().int().min(0),
  }),
  event: z
    .object({
      op: z.enum(OPS),
      data: z.object({ old: jsonObject.nullable(), new: z.unknown() }),
      session_variables: sessionVariables.nullable().optional(),
      trace_context: jsonObject.nullable().optional(),
    })
    .superRefine(checkRowsForOp),
});

export const cronEnvelopeSchema = z.object({
  id,
  /** Absent for one-off scheduled events. */
  name: name.optional(),
  scheduled_time: timestamp,
  payload: z.unknown().optional(),
  comment: z.string().nullable().optional(),
  created_at: timestamp.optional(),
});

/* ------------------------------------------------------------------ parsing */

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * One readable line per issue, naming the JSON path; at most five, then a count. `parsed` is the value the
 * schema saw, when known, to say what was received instead of zod's generic wording.
 */
export function formatIssues(error: z.ZodError, parsed?: { value: unknown }, prefix = ''): string {
  const parts = error.issues.slice(0, 5).map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)';
    if (issue.code === 'invalid_type' && parsed) {
      const received = valueAt(parsed.value, issue.path);
      if (received === undefined) return `${path}: is required`;
      return `${path}: expected ${issue.expected}, got ${describeType(received)}`;
    }
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return parts.join('; ') + more;
}

function parseWith<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw new EnvelopeError(`invalid ${what}: ${formatIssues(r.error, { value: body })}`);
  return r.data;
}

/**
 * Session from Hasura's variables: keys lower-cased (into a null-prototype object, since keys come from the
 * wire), values strings. `x-hasura-role` is required: Hasura always sets it.
 */
export function toSession(vars: Record<string, string>, where: string): Session {
  const variables: Record<string, string> = Object.create(null);
  for (const key of Object.keys(vars)) {
    const lower = key.toLowerCase();
    if (lower in variables) throw new EnvelopeError(`${where}: "${lower}" is given twice (keys are case-insensitive)`);
    variables[lower] = vars[key]!;
  }
  const role = variables['x-hasura-role'];
  if (role === undefined || role === '') throw new EnvelopeError(`${where}: x-hasura-role is required`);
  return { role, userId: variables['x-hasura-user-id'] ?? null, variables };
}

export interface ActionEnvelope {
  name: string;
  input: Record<string, unknown>;
  session: Session;
  requestQuery: string | null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/**
 * The common case checked by hand: accepts only bodies `actionEnvelopeSchema` accepts too (a strict
 * subset), and returns undefined for everything else so zod parses it and words the error. Saves the
 * schema walk on every valid request.
 */
function sessionVariablesOk(vars: Record<string, unknown>): boolean {
  for (const key in vars) {
    const v = vars[key];
    if (key.length > 200 || typeof v !== 'string' || v.length > 10_000) return false;
  }
  return true;
}

const nameOk = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 200;
// Safe integers only, as zod's int() accepts: 2^53 and beyond are not exact counts.
const countOk = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const timestampOk = (v: unknown): v is string => typeof v === 'string' && v.length <= 64 && !Number.isNaN(Date.parse(v));

/** Like `fastActionEnvelope`, for event payloads (a strict subset of `eventEnvelopeSchema`). */
export function fastEventEnvelope(body: unknown): z.infer<typeof eventEnvelopeSchema> | undefined {
  if (!isPlainObject(body)) return undefined;
  const { id, created_at, trigger, table, delivery_info, event } = body;
  if (!nameOk(id) || !timestampOk(created_at)) return undefined;
  if (!isPlainObject(trigger) || !nameOk(trigger.name)) return undefined;
  if (!isPlainObject(table) || !nameOk(table.schema) || !nameOk(table.name)) return undefined;
  if (!isPlainObject(delivery_info) || !countOk(delivery_info.max_retries) || !countOk(delivery_info.current_retry)) return undefined;
  if (!isPlainObject(event) || !isPlainObject(event.data)) return undefined;
  const op = event.op;
  const { old, new: nu } = event.data;
  const ok =
    op === 'INSERT' ? old === null && isPlainObject(nu) :
    op === 'UPDATE' ? isPlainObject(old) && isPlainObject(nu) :
    op === 'DELETE' ? isPlainObject(old) && nu === null :
    op === 'MANUAL' ? old === null && nu !== undefined : false;
  if (!ok) return undefined;
  const sv = event.session_variables;
  if (sv !== undefined && sv !== null && !(isPlainObject(sv) && sessionVariablesOk(sv))) return undefined;
  const tc = event.trace_context;
  if (tc !== undefined && tc !== null && !isPlainObject(tc)) return undefined;
  return {
    id,
    created_at,
    trigger: { name: trigger.name },
    table: { schema: table.schema, name: table.name },
    delivery_info: { max_retries: delivery_info.max_retries, current_retry: delivery_info.current_retry },
    event: {
      op: op as (typeof OPS)[number],
      data: { old: old as Record<string, unknown> | null, new: nu },
      session_variables: sv as Record<string, string> | null | undefined,
      trace_context: tc as Record<string, unknown> | null | undefined,
    },
  };
}

export function fastActionEnvelope(body: unknown): z.infer<typeof actionEnvelopeSchema> | undefined {
  if (!isPlainObject(body)) return undefined;
  const action = body.action;
  if (!isPlainObject(action)) return undefined;
  const name = action.name;
  if (typeof name !== 'string' || name.length < 1 || name.length > 200) return undefined;
  const input = body.input;
  if (!isPlainObject(input)) return undefined;
  const vars = body.session_variables;
  if (!isPlainObject(vars)) return undefined;
  if (!sessionVariablesOk(vars)) return undefined;
  const q = body.request_query;
  if (q !== undefined && q !== null && typeof q !== 'string') return undefined;
  return { action: { name }, input, session_variables: vars as Record<string, string>, request_query: q as string | null | undefined };
}

export function parseActionEnvelope(body: unknown): ActionEnvelope {
  const e = fastActionEnvelope(body) ?? parseWith(actionEnvelopeSchema, body, 'action request');
  return {
    name: e.action.name,
    input: e.input,
    session: toSession(e.session_variables, 'session_variables'),
    requestQuery: e.request_query ?? null,
  };
}

export interface EventEnvelope {
  name: string;
  payload: HasuraEventPayload;
  session: Session | null;
}

export function parseEventEnvelope(body: unknown): EventEnvelope {
  const e = fastEventEnvelope(body) ?? parseWith(eventEnvelopeSchema, body, 'event payload');
  const vars = e.event.session_variables ?? null;
  const session = vars ? toSession(vars, 'event.session_variables') : null;
  const payload: HasuraEventPayload = {
    id: e.id,
    created_at: e.created_at,
    trigger: e.trigger,
    table: e.table,
    delivery_info: e.delivery_info,
    event: {
      op: e.event.op,
      data: { old: e.event.data.old, new: (e.event.data.new ?? null) as Record<string, unknown> | null },
      session_variables: session ? { ...session.variables } : null,
      trace_context: e.event.trace_context ?? null,
    },
  };
  return { name: e.trigger.name, payload, session };
}

export interface CronEnvelope {
  name: string | undefined;
  payload: HasuraCronPayload;
}

export function parseCronEnvelope(body: unknown): CronEnvelope {
  const e = parseWith(cronEnvelopeSchema, body, 'cron payload');
  const payload: HasuraCronPayload = {
    id: e.id,
    scheduled_time: e.scheduled_time,
    payload: e.payload ?? null,
  };
  if (e.name !== undefined) payload.name = e.name;
  if (e.comment !== undefined) payload.comment = e.comment;
  if (e.created_at !== undefined) payload.created_at = e.created_at;
  return { name: e.name, payload };
}
