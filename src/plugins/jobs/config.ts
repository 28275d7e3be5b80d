import { z } from 'zod';
import { secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** `true`/`false`/`1`/`0`/`yes`/`no`: `z.coerce.boolean()` would read the string "false" as true. */
const flag = (def: boolean, description: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .describe(description);

const DAY = 86_400;

/** Settings of the jobs plugin (apart from the manifest so handlers and lib can name the type without a cycle). */
export const jobsConfig = z.object({
  JOBS_DIR: z.string().min(1).default('./jobs').describe('Folder of the app\'s own job files (one `defineJob` default export per file), loaded at boot.'),
  JOBS_WORKERS: flag(true, 'Run job workers inside the server process. Set false when `nself-plugins worker` processes do the work.'),
  JOBS_QUEUES: z
    .string()
    .optional()
    .describe('Comma-separated queues this process works on. Default: every known queue.'),
  JOBS_CONCURRENCY: int(1, 1000, 10, 'Jobs one worker runs at once per queue, unless the queue\'s jobs declare their own concurrency.'),
  JOBS_DEFAULT_ATTEMPTS: int(1, 100, 3, 'Attempts per job (first run included) unless the job declares its own.'),
  JOBS_BACKOFF_DELAY_MS: int(0, 86_400_000, 1000, 'Base delay of the exponential retry backoff (doubles each attempt).'),
  JOBS_BACKOFF_JITTER: z.coerce.number().min(0).max(1).default(0.5).describe('Random share (0–1) taken off each retry delay so failed jobs do not retry in lockstep.'),
  JOBS_DEFAULT_TIMEOUT_MS: int(0, 86_400_000, 15 * 60_000, 'Time one attempt may run before it fails as timed out (0: no limit) unless the job declares its own.'),
  JOBS_MAX_DATA_BYTES: int(1024, 64 * 1024 * 1024, 512 * 1024, 'Largest job data accepted, in bytes of JSON; larger data is refused when enqueued (keep big payloads in storage and pass their key).'),
  JOBS_COMPLETED_MAX_AGE_SECONDS: int(0, 365 * DAY, DAY, 'Completed jobs are removed from the queue after this many seconds.'),
  JOBS_COMPLETED_MAX_COUNT: int(0, 10_000_000, 1000, 'At most this many completed jobs are kept per queue.'),
  JOBS_FAILED_MAX_AGE_SECONDS: int(0, 365 * DAY, 7 * DAY, 'Failed jobs (the dead-letter set) are removed from the queue after this many seconds.'),
  JOBS_FAILED_MAX_COUNT: int(0, 10_000_000, 10_000, 'At most this many failed jobs are kept per queue.'),
  JOBS_DEAD_LETTER_RETENTION_DAYS: int(0, 3650, 30, 'Days to keep rows of jobs.dead_letter, the durable history of jobs that failed for good (0: forever).'),
  JOBS_DEAD_LETTER_MAX_ROWS: int(0, 100_000_000, 100_000, 'At most this many rows are kept in jobs.dead_letter (0: no limit).'),
  JOBS_LOCK_DURATION_MS: int(1000, 3_600_000, 30_000, 'Lock a worker holds on a running job; a job whose lock lapses (crashed worker) is taken over by another.'),
  JOBS_STALLED_INTERVAL_MS: int(1000, 3_600_000, 30_000, 'How often workers look for jobs whose worker died.'),
  JOBS_MAX_STALLED_COUNT: int(0, 100, 1, 'Times a job may be recovered from a dead worker before it fails.'),
  JOBS_SHUTDOWN_TIMEOUT_MS: int(0, 3_600_000, 30_000, 'On shutdown, how long running jobs may take to finish before their workers are closed anyway.'),
  JOBS_DASHBOARD_ENABLED: flag(true, 'Serve the bull-board dashboard at /admin/jobs.'),
  JOBS_DASHBOARD_USERNAME: z.string().min(1).optional().describe('Basic-auth user name for the dashboard (with JOBS_DASHBOARD_PASSWORD).'),
  JOBS_DASHBOARD_PASSWORD: secret(z.string().min(8, 'must be at least 8 characters')).optional().describe('Basic-auth password for the dashboard.'),
  JOBS_DASHBOARD_ADMIN_SECRET: secret(z.string().min(16, 'must be at least 16 characters'))
    .optional()
    .describe('Also accepted as the x-hasura-admin-secret header on the dashboard (e.g. the stack\'s Hasura admin secret). With neither this nor basic auth, the dashboard answers 401.'),
  JOBS_DASHBOARD_READ_ONLY: flag(false, 'Show the dashboard without retry/remove/clean buttons.'),
});

export type JobsConfig = z.infer<typeof jobsConfig>;
