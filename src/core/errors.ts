/**
 * Errors handlers throw. The dispatcher maps them to Hasura's semantics:
 * - actions: `ActionError` → 4xx `{message, extensions:{code, ...}}`; anything else → 500 "internal error".
 * - events/crons: `RetryableError` → 503 (+ `Retry-After`), so Hasura retries;
 *   `SkipEvent` → 200 `{skipped}` with the reason logged and recorded; anything else → 500 (retry).
 */

export interface ErrorSpec {
  status: number;
  message: string;
}

/** A plugin's error catalogue: stable codes (`<plugin>/<what>`) with a status and a public message. */
export type ErrorCatalogue = Record<string, ErrorSpec>;

export function defineErrors<T extends ErrorCatalogue>(catalogue: T): T {
  for (const [code, spec] of Object.entries(catalogue)) {
    if (spec.status < 400 || spec.status > 499) throw new Error(`error ${code}: action errors must be 4xx, got ${spec.status}`);
  }
  return catalogue;
}

export class ActionError extends Error {
  readonly status: number;
  readonly code: string;
  readonly extensions: Record<string, unknown>;
  constructor(code: string, message: string, status = 400, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ActionError';
    this.code = code;
    this.status = status;
    this.extensions = { ...extensions, code };
  }
  /** Builds the error for `code` from a catalogue, optionally with a more specific message and extra extensions. */
  static from<T extends ErrorCatalogue>(catalogue: T, code: keyof T & string, detail?: string, extensions?: Record<string, unknown>): ActionError {
    const spec = catalogue[code]!;
    return new ActionError(code, detail ?? spec.message, spec.status, extensions);
  }
}

export class RetryableError extends Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, opts: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'RetryableError';
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export class SkipEvent extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SkipEvent';
  }
}
