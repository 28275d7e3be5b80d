/**
 * Runtime checks of the actions' input beyond the SDL: Hasura forwards `uuid` and `jsonb` arguments as the
 * client sent them, and lengths and shapes are ours to bound. A failure is a 400 naming the field.
 */
import { z } from 'zod';
import { emailError } from './errors.js';

const text = (max: number) => z.string().max(max);
const addresses = z.array(z.string().max(320)).max(1000);
const jsonObject = z.record(z.string(), z.unknown());

export const sendInput = z.object({
  to: addresses,
  cc: addresses.nullish(),
  bcc: addresses.nullish(),
  from: text(320).nullish(),
  replyTo: text(320).nullish(),
  template: text(100).nullish(),
  locale: text(35).nullish(),
  subject: text(2000).nullish(),
  html: z.string().nullish(),
  text: z.string().nullish(),
  data: jsonObject.nullish(),
  attachments: z
    .array(z.object({ fileId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid'), filename: text(255).nullish() }))
    .max(20)
    .nullish(),
  idempotencyKey: text(255).nullish(),
  category: text(100).nullish(),
  transactional: z.boolean().nullish(),
  metadata: jsonObject.nullish(),
});

export const previewInput = sendInput.pick({ template: true, locale: true, subject: true, html: true, text: true, data: true });

export const upsertTemplateInput = z.object({
  key: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lower-case letters, digits and _ . -, at most 100'),
  locale: text(35),
  subject: z.string().min(1).max(2000),
  html: text(500_000).nullish(),
  text: text(200_000).nullish(),
  schema: jsonObject.nullish(),
  layout: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/).nullish(),
  transactional: z.boolean().nullish(),
  category: z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,99}$/).nullish(),
});

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`);
  throw emailError('email/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}
