/**
 * Runtime checks of action input beyond the SDL types: ids, lengths, sizes. Hasura forwards `uuid` and
 * `jsonb` arguments without parsing them, so those are judged here too. A failure is a 4xx naming the field;
 * nothing is written.
 */
import { z } from 'zod';
import { realtimeError } from './errors.js';

export const ROOM_ID = /^(channel|thread|dm|user):[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const roomId = z.string().regex(ROOM_ID, 'not a room id (channel:<id>, thread:<id>, dm:<id> or user:<id>)');
export const userId = z.string().min(1).max(128);
export const uuid = z.string().regex(UUID, 'not a UUID').transform((s) => s.toLowerCase());
export const threadId = z.string().min(1).max(128);
export const deviceId = z.string().min(1).max(128);
export const memberRole = z.enum(['owner', 'admin', 'member']);

/** Parses `input` or throws a 400 listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : 'input'}: ${i.message}`);
  const code = r.error.issues.some((i) => i.path[0] === 'roomId' || i.path[0] === 'id') && problems.length === 1 && /room id/.test(problems[0]!)
    ? 'realtime/invalid-room-id'
    : 'realtime/invalid-input';
  throw realtimeError(code, `invalid input: ${problems.join('; ')}`, { problems });
}

/** `value` as JSON text, or throws 413 when it is longer than `max` bytes (checked before anything is written). */
export function jsonText(value: unknown, max: number, what: string): string {
  const text = JSON.stringify(value ?? null);
  // A UTF-16 unit is at most 3 UTF-8 bytes: a text whose length × 3 fits needs no byte count.
  const bytes = text.length * 3 <= max ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > max) throw realtimeError('realtime/payload-too-large', `${what} is ${bytes} bytes; at most ${max} are allowed`, { bytes, max });
  return text;
}

/** Bytes of `value` as JSON text, or throws 413 past `max`. */
export function jsonBytes(value: unknown, max: number, what: string): number {
  return Buffer.byteLength(jsonText(value, max, what), 'utf8');
}
