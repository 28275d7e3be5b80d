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
];

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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
