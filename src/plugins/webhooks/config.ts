import { z } from 'zod';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** "5,300,1800" → [5, 300, 1800]: seconds between attempts. */
export const parseSchedule = (v: string) => v.split(',').map((s) => Number(s.trim()));
const SCHEDULE = /^\s*\d+(\s*,\s*\d+)*\s*$/;
const scheduleOk = (l: number[]) => l.length <= 50 && l.every((s) => s >= 1 && s <= 7 * 86_400);

export interface TableMapping {
  schema: string;
  table: string;
  op: 'insert' | 'update' | 'delete';
  type: string;
}

const IDENT = '[a-z_][a-z0-9_]{0,62}';
const MAPPING = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT}):(insert|update|delete)=([a-z0-9][a-z0-9_-]*(?:\\.[a-z0-9][a-z0-9_-]*)+)$`);

/** `nchat_messages:insert=message.created,app.orders:update=order.updated` → mappings (schema default public). */
export function parseMappings(text: string): TableMapping[] {
  const out: TableMapping[] = [];
  const seen = new Set<string>();
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = MAPPING.exec(item);
    if (!m) throw new Error(`"${item}" is not <table>:<insert|update|delete>=<event.type>`);
    const mapping = { schema: m[1] ?? 'public', table: m[2]!, op: m[3] as TableMapping['op'], type: m[4]! };
    const key = `${mapping.schema}.${mapping.table}:${mapping.op}=${mapping.type}`;
    if (!seen.has(key)) out.push(mapping);
    seen.add(key);
  }
  return out;
}

const mappingProblem = (text: string) => {
  try {
    parseMappings(text);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

export const webhooksConfig = z.object({
  WEBHOOKS_MAP: z
    .string()
    .default('')
    .superRefine((v, ctx) => {
      const problem = mappingProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform(parseMappings)
    .describe('Table → event mappings (install webhooks --map nchat_messages:insert=message.created,…): each row change of the table emits the event with the row as its data.'),
  WEBHOOKS_RETRY_SCHEDULE: z
    .string()
    .regex(SCHEDULE, 'must be comma-separated whole seconds')
    .default('5,300,1800,7200,18000,36000,50400,72000,86400')
    .transform(parseSchedule)
    .refine(scheduleOk, { message: 'at most 50 delays of 1 s to 7 days each' })
    .describe('Seconds between attempts after the first (Standard Webhooks\' example schedule, ~3 days in all); endpoints may set their own.'),
  WEBHOOKS_RETRY_JITTER: z.coerce.number().min(0).max(0.5).default(0.2).describe('Random share (±) applied to each retry delay, so failing endpoints are not hit in lockstep.'),
  WEBHOOKS_DISABLE_AFTER_HOURS: int(1, 24 * 60, 120, 'An endpoint that has failed for this long with no success in between is disabled (and its owner notified).'),
  WEBHOOKS_REQUEST_TIMEOUT_MS: int(100, 120_000, 15_000, 'Time a receiver has to answer one delivery.'),
  WEBHOOKS_MAX_PAYLOAD_BYTES: int(64, 1_048_576, 65_536, 'Largest message body (the signed JSON) accepted by webhooksEmit.'),
  WEBHOOKS_RESPONSE_BODY_BYTES: int(0, 65_536, 2048, 'Bytes of each receiver answer kept in the attempt log.'),
  WEBHOOKS_MAX_RETRY_AFTER_SECONDS: int(1, 7 * 86_400, 86_400, 'Longest Retry-After honoured; longer ones are capped to this.'),
  WEBHOOKS_SECRET_GRACE_SECONDS: int(0, 30 * 86_400, 86_400, 'Default time a rotated-out secret keeps signing beside the new one.'),
  WEBHOOKS_MAX_ENDPOINTS_PER_OWNER: int(1, 10_000, 50, 'Endpoints one owner may have.'),
  WEBHOOKS_REQUIRE_HTTPS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('Refuse http:// endpoint URLs.'),
  WEBHOOKS_SSRF_ALLOW: z
    .string()
    .default('')
    .describe('Comma-separated CIDR ranges endpoints may reach although they are private, loopback or link-local (development only, e.g. 127.0.0.1/32). Empty: none.'),
  WEBHOOKS_DISPATCH_GRACE_SECONDS: int(1, 3600, 30, 'A delivery due this long ago whose job was lost (or whose worker died, once its lease lapsed) is enqueued again by the dispatcher.'),
  WEBHOOKS_RETENTION_DAYS: int(0, 3650, 30, 'Days to keep messages (with their deliveries and attempts) once no delivery is pending (0: forever).'),
  WEBHOOKS_ATTEMPT_RETENTION_DAYS: int(0, 3650, 14, 'Days to keep attempt rows (0: as long as their message).'),
  WEBHOOKS_INCOMING_MAX_BYTES: int(64, 10_485_760, 65_536, 'Largest JSON body an incoming webhook URL accepts.'),
  WEBHOOKS_INCOMING_RATE_LIMIT: int(1, 100_000, 60, 'Default posts per minute one incoming webhook URL accepts.'),
});

export type WebhooksConfig = z.infer<typeof webhooksConfig>;
