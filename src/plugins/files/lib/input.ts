/**
 * Runtime checks of action input beyond the SDL: Hasura forwards PostgreSQL scalars (`uuid`, `bigint`,
 * `jsonb`) as the client sent them, so ids, sizes and metadata are judged here. A failure is a 400 naming
 * the field; nothing is touched.
 */
import { z } from 'zod';
import type { Session } from '../../../core/plugin.js';
import { filesError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const uuid = z
  .string({ message: 'must be a UUID' })
  .regex(UUID, 'must be a UUID')
  .transform((s) => s.toLowerCase());

/** `bigint` arrives as a JSON integer or a digit string. Files up to 5 TiB (S3's object limit). */
export const byteSize = z
  .union([z.number(), z.string().regex(/^\d{1,16}$/, 'must be a whole number of bytes')], { message: 'must be a whole number of bytes' })
  .transform((v) => Number(v))
  .pipe(z.number().int('must be a whole number of bytes').min(0).max(5 * 1024 ** 4, 'must be at most 5 TiB'));

const bucketId = z.string().min(1).max(63);
const metadata = z
  .record(z.string(), z.unknown(), { message: 'must be a JSON object' })
  .refine((m) => JSON.stringify(m).length <= 4096, 'must be at most 4096 bytes of JSON');

export const createUploadInput = z.object({
  bucket: bucketId.nullish(),
  name: z.string().max(100_000),
  mimeType: z.string().max(1000),
  size: byteSize,
  method: z.enum(['PUT', 'POST']).nullish(),
  metadata: metadata.nullish(),
});

export const createMultipartInput = z.object({
  bucket: bucketId.nullish(),
  name: z.string().max(100_000),
  mimeType: z.string().max(1000),
  size: byteSize,
  partSize: z.number().int().min(5 * 1024 * 1024, 'must be at least 5 MiB').nullish(),
  metadata: metadata.nullish(),
});

export const MAX_SIGNED_PARTS = 1000;
export const signPartsInput = z.object({
  id: uuid,
  partNumbers: z
    .array(z.number().int().min(1).max(10_000))
    .min(1, 'give at least one part number')
    .max(MAX_SIGNED_PARTS, `at most ${MAX_SIGNED_PARTS} parts per call`),
});

export const completeInput = z.object({
  id: uuid,
  parts: z
    .array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) }))
    .max(10_000)
    .nullish(),
});

export const idInput = z.object({ id: uuid });

export const downloadInput = z.object({
  id: uuid,
  variant: z.string().min(1).max(64).nullish(),
  disposition: z.enum(['inline', 'attachment']).nullish(),
  expiresIn: z.number().int().min(1).max(7 * 86_400).nullish(),
});

export const usageInput = z.object({ bucket: bucketId.nullish() });

export const reprocessInput = z.object({
  bucket: bucketId,
  ids: z.array(uuid).max(1000, 'at most 1000 ids per call').nullish(),
  after: uuid.nullish(),
});

/** Parses `input` or throws a 400 listing every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : 'input'}: ${i.message}`);
  throw filesError('files/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

/** Whose files the caller may act on: a user its own; admin (and only admin) every file. */
export type Actor = { admin: true; userId: string | null } | { admin: false; userId: string };

export function actorOf(session: Session): Actor {
  if (session.role === 'admin') return { admin: true, userId: session.userId };
  if (!session.userId) throw filesError('files/no-user');
  return { admin: false, userId: session.userId };
}

/** The owner of new uploads: a user session's user id (admin must name one with x-hasura-user-id). */
export function ownerOf(session: Session): string {
  if (!session.userId) throw filesError('files/no-user');
  return session.userId;
}
