import { pino, type Logger, type DestinationStream } from 'pino';

/** Header and field paths never written to logs, whatever a caller passes in. */
export const REDACT_PATHS = [
  'headers["x-nself-plugins-secret"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'req.headers["x-nself-plugins-secret"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'config.NSELF_PLUGINS_WEBHOOK_SECRET',
  // Whole action inputs, job data and payloads can hold users' personal data and secrets; log ids instead.
  'input',
  'data',
  'payload',
  'body',
  'job.data',
  'req.body',
];

const MAX_TEXT = 1000;
const MAX_STACK = 4000;
const truncate = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s);

/** Properties errors carry that can hold whole rows or inputs (pg's `detail`/`where`, libraries' `data`). */
const BULKY = new Set(['data', 'input', 'payload', 'body', 'parameters', 'values', 'args', 'request', 'response', 'config']);

/**
 * An error as it is logged: type, message, code and stack, bounded in size, with properties that can hold
 * request data dropped and other long text truncated. Used by the logger's `err` serializer and by the
 * dispatcher, whose logger may be one a host application passed in.
 */
export function errorForLog(e: unknown, depth = 0): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: truncate(String(e), MAX_TEXT) };
  const out: Record<string, unknown> = { type: e.name, message: truncate(e.message, MAX_TEXT) };
  for (const [key, value] of Object.entries(e)) {
    if (key === 'message' || key === 'stack' || BULKY.has(key)) continue;
    if (typeof value === 'string') out[key] = truncate(value, 200);
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
  }
  if (e.stack) out.stack = truncate(e.stack, MAX_STACK);
  if (e.cause !== undefined && depth < 3) out.cause = errorForLog(e.cause, depth + 1);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Defaults to stdout; tests pass a stream to capture lines. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'nself-plugins', ...opts.base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: errorForLog },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
