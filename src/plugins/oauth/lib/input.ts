import { z } from 'zod';
import { oauthError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const uuid = z.string().regex(UUID, 'not a UUID').transform((s) => s.toLowerCase());
/** Opaque tokens and codes we issue: base64url, bounded so a huge value never reaches a hash or a query. */
export const opaque = z.string().min(16).max(256).regex(/^[A-Za-z0-9_.-]+$/, 'not a token we issued');

/** Parses `input` or throws a 400 listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : 'input'}: ${i.message}`);
  throw oauthError('oauth/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

export const isUuid = (v: string | null | undefined): v is string => typeof v === 'string' && UUID.test(v);
