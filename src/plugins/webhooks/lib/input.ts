/**
 * Runtime checks of the actions' input beyond the SDL (Hasura forwards uuid/jsonb/timestamptz arguments as the
 * client sent them). A failure is a 400 naming the field; nothing is touched.
 */
import { z } from 'zod';
import type { Queryable, Session } from '../../../core/plugin.js';
import { parseHasuraTimestamp } from '../../../core/hasura-time.js';
import { webhooksError } from './errors.js';
import { CHANNEL, EVENT_TYPE_NAME } from './emit.js';
import { RESERVED_HEADERS } from './deliver.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const uuid = z.string().regex(UUID, 'must be a uuid');
const ownerId = z.string().min(1).max(255);
const eventTypeName = z.string().max(100).regex(EVENT_TYPE_NAME, 'dot-separated lower-case words, e.g. message.created');
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

const headers = z
  .record(z.string(), z.string().max(1000).regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'header values may not hold control characters'))
  .refine((h) => Object.keys(h).length <= 20, { message: 'at most 20 headers' })
  .refine((h) => Object.keys(h).every((k) => HEADER_NAME.test(k)), { message: 'header names are tokens (letters, digits, - …)' })
  .refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())), {
    message: `may not set ${[...RESERVED_HEADERS].join(', ')}`,
  });

const endpointFields = {
  url: z.string().min(1).max(2000),
  description: z.string().max(1000).nullish(),
  eventTypes: z.array(eventTypeName).min(1).max(100).nullish(),
  channels: z.array(z.string().regex(CHANNEL, 'letters, digits and _ . : -, at most 100')).min(1).max(20).nullish(),
  headers: headers.nullish(),
  rateLimit: z.number().int().min(1).max(10_000).nullish(),
  retrySchedule: z.array(z.number().int().min(1).max(7 * 86_400)).min(0).max(50).nullish(),
  fifo: z.boolean().nullish(),
};

export const createEndpointInput = z.object({
  ...endpointFields,
  signatureScheme: z.enum(['v1', 'v1a']).nullish(),
  ownerId: ownerId.nullish(),
});

export const updateEndpointInput = z.object({
  id: uuid,
  ...endpointFields,
  url: endpointFields.url.nullish(),
  clearEventTypes: z.boolean().nullish(),
  clearChannels: z.boolean().nullish(),
  clearRateLimit: z.boolean().nullish(),
  clearRetrySchedule: z.boolean().nullish(),
  enabled: z.boolean().nullish(),
});

export const rotateInput = z.object({ id: uuid, graceSeconds: z.number().int().min(0).max(30 * 86_400).nullish(), signatureScheme: z.enum(['v1', 'v1a']).nullish() });
export const idInput = z.object({ id: uuid });
export const sendTestInput = z.object({ id: uuid, eventType: eventTypeName.nullish() });
export const resendInput = z.object({ endpointId: uuid, messageId: uuid });
export const recoverInput = z.object({
  endpointId: uuid,
  since: z.string().refine((v) => parseHasuraTimestamp(v) !== undefined, { message: 'must be an ISO-8601 timestamp' }),
});
export const registerTypeInput = z.object({
  name: eventTypeName,
  description: z.string().max(1000),
  schema: z.record(z.string(), z.unknown()).nullish(),
  example: z.unknown().optional(),
});
export const createIncomingInput = z.object({ name: z.string().min(1).max(200), rateLimit: z.number().int().min(1).max(100_000).nullish(), ownerId: ownerId.nullish() });

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`);
  throw webhooksError('webhooks/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

const BACKENDS = new Set(['admin', 'service']);
export const isBackend = (session: Session) => BACKENDS.has(session.role);

/** Who a new endpoint or incoming URL belongs to: users own theirs; backends name the owner. */
export function ownerFor(session: Session, requested: string | null | undefined): string {
  if (isBackend(session)) {
    const owner = requested ?? session.userId;
    if (!owner) throw webhooksError('webhooks/invalid-input', 'invalid input: ownerId: is required for a backend caller without x-hasura-user-id');
    return owner;
  }
  if (requested != null && requested !== session.userId) throw webhooksError('webhooks/invalid-input', 'invalid input: ownerId: users create only their own (leave it out)');
  if (!session.userId) throw webhooksError('webhooks/no-user');
  return session.userId;
}

/**
 * The endpoint, if the caller may manage it. Another owner's endpoint answers exactly like a missing one: its
 * existence is not the caller's business.
 */
export async function ownedEndpoint(db: Queryable, session: Session, id: string): Promise<{ id: string; owner_id: string; enabled: boolean; signature_scheme: 'v1' | 'v1a' }> {
  const r = await db.query<{ id: string; owner_id: string; enabled: boolean; signature_scheme: 'v1' | 'v1a' }>(
    'select id, owner_id, enabled, signature_scheme from webhooks.endpoint where id = $1',
    [id],
  );
  const e = r.rows[0];
  if (!e || (!isBackend(session) && e.owner_id !== session.userId)) throw webhooksError('webhooks/endpoint-not-found');
  return e;
}
