import { ActionError, defineErrors } from '../../../core/errors.js';

export const JOBS_ERRORS = defineErrors({
  'jobs/invalid-input': { status: 400, message: 'invalid input' },
  'jobs/unknown-job': { status: 404, message: 'no job with this name is registered' },
  'jobs/unknown-queue': { status: 404, message: 'no queue with this name' },
  'jobs/job-not-found': { status: 404, message: 'no job with this id in this queue' },
  'jobs/invalid-data': { status: 400, message: "data does not match the job's schema" },
  'jobs/invalid-job-id': { status: 400, message: 'job ids are 1–255 characters, without ":" and not an integer' },
  'jobs/invalid-cron': { status: 400, message: 'invalid cron expression' },
  'jobs/invalid-timezone': { status: 400, message: 'unknown time zone' },
  'jobs/invalid-cursor': { status: 400, message: 'invalid cursor' },
  'jobs/not-retryable': { status: 409, message: 'only failed or completed jobs can be retried' },
  'jobs/not-cancellable': { status: 409, message: 'the job has already finished' },
  'jobs/not-delayed': { status: 409, message: 'only delayed jobs can be promoted' },
  'jobs/schedule-not-found': { status: 404, message: 'no schedule with this id' },
});

export type JobsErrorCode = keyof typeof JOBS_ERRORS;

export function jobsError(code: JobsErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(JOBS_ERRORS, code, detail, extensions);
}
