import { ActionError, defineErrors } from '../../../core/errors.js';

export const JOBS_ERRORS = defineErrors({
  'jobs/invalid-input': { status: 400, message: 'invalid input' },
  'jobs/unknown-job': { status: 404, message: 'no job with this name is registered' },
  'jobs/unknown-queue': { status: 404, message: 'no queue with this name' },
  'jobs/job-not-found': { status: 404, message: 'no job with this id in this queue' },
  'jobs/invalid-data': { status: 400, message: "data does not match the job's schema" },
  'jobs/invalid-job-id': { status: 400, message: 'job ids are 1–255 characters of text, without ":", not an integer and not one of the queue backend\'s own key names' },
  'jobs/invalid-cron': { status: 400, message: 'invalid cron expression' },
  'jobs/invalid-timezone': { status: 400, message: 'unknown time zone' },
  'jobs/invalid-cursor': { status: 400, message: 'invalid cursor' },
  'jobs/not-retryable': { status: 409, message: 'only failed or completed jobs can be retried' },
  'jobs/not-cancellable': { status: 409, message: 'the job has already finished' },
  'jobs/not-delayed': { status: 409, message: 'only delayed jobs can be promoted' },
  'jobs/schedule-not-found': { status: 404, message: 'no schedule with this id' },
  'jobs/queue-damaged': { status: 409, message: 'the queue\'s storage is damaged; the server log says how to repair it' },
});

export type JobsErrorCode = keyof typeof JOBS_ERRORS;

export function jobsError(code: JobsErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(JOBS_ERRORS, code, detail, extensions);
}

const MAX_LOGGED_MESSAGE = 1000;

/**
 * An error as it may be logged. pino's own error serializer writes every enumerable property, and errors
 * from the queue backends and from job handlers carry the job's data in them (ioredis: the command and its
 * arguments; HTTP clients: the request body; zod: the input), which may hold secrets or personal data. Only
 * the type, code, a bounded message and the stack go to the log, under `error` (pino would run its own
 * serializer again on an `err` key).
 */
export function loggableError(e: unknown): { type: string; message: string; code?: string; stack?: string } {
  if (!(e instanceof Error)) return { type: typeof e, message: truncate(String(e)) };
  const code = (e as { code?: unknown }).code;
  return {
    type: e.name,
    message: truncate(e.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(e.stack ? { stack: e.stack.split('\n').slice(1, 11).join('\n') } : {}),
  };
}

function truncate(s: string): string {
  return s.length > MAX_LOGGED_MESSAGE ? `${s.slice(0, MAX_LOGGED_MESSAGE)}… (${s.length - MAX_LOGGED_MESSAGE} more characters)` : s;
}

/**
 * A queue backend's failure to add jobs, stripped of what the backend attached to it (ioredis puts the whole
 * command, job data included, on its errors), so that whoever logs it logs no job data.
 */
export class QueueAddError extends Error {
  override name = 'QueueAddError';
  readonly code: string | undefined;
  constructor(queue: string, cause: unknown) {
    const { message, code } = loggableError(cause);
    super(`adding jobs to queue "${queue}" failed: ${message}`);
    this.code = code;
  }
}
