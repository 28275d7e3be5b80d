import { definePlugin } from '../../core/plugin.js';
import { jobsConfig, type JobsConfig } from './config.js';
import { jobsService } from './lib/runtime.js';
import { dashboardRouter } from './lib/dashboard.js';
import { jobsEnqueue } from '../../../actions/jobs/jobs-enqueue.js';
import { jobsEnqueueBulk } from '../../../actions/jobs/jobs-enqueue-bulk.js';
import { jobsGet } from '../../../actions/jobs/jobs-get.js';
import { jobsList } from '../../../actions/jobs/jobs-list.js';
import { jobsStats } from '../../../actions/jobs/jobs-stats.js';
import { jobsRetry } from '../../../actions/jobs/jobs-retry.js';
import { jobsCancel } from '../../../actions/jobs/jobs-cancel.js';
import { jobsPromote } from '../../../actions/jobs/jobs-promote.js';
import { jobsPauseQueue } from '../../../actions/jobs/jobs-pause-queue.js';
import { jobsResumeQueue } from '../../../actions/jobs/jobs-resume-queue.js';
import { jobsDrainQueue } from '../../../actions/jobs/jobs-drain-queue.js';
import { jobsSchedule } from '../../../actions/jobs/jobs-schedule.js';
import { jobsUnschedule } from '../../../actions/jobs/jobs-unschedule.js';
import { jobsSchedules } from '../../../actions/jobs/jobs-schedules.js';
import { jobsCleanFinished } from '../../../cron-triggers/jobs/jobs-clean-finished.js';
import { jobsPruneDeadLetters } from '../../../cron-triggers/jobs/jobs-prune-dead-letters.js';

const OPERATORS = ['service'];

export function parseQueueList(value: string | undefined): string[] | undefined {
  const list = value?.split(',').map((s) => s.trim()).filter(Boolean);
  return list?.length ? list : undefined;
}

export const jobsPlugin = definePlugin({
  name: 'jobs',
  version: '0.1.0',
  description: 'Background jobs on BullMQ (Redis or PostgreSQL): typed job definitions, retries, dead letters, cron schedules with time zones, and a dashboard.',
  config: jobsConfig,
  tables: [
    {
      table: { schema: 'jobs', name: 'dead_letter' },
      configuration: { custom_name: 'jobs_dead_letter' },
      select_permissions: [
        {
          role: 'service',
          permission: {
            columns: ['id', 'queue', 'job_id', 'name', 'data', 'failed_reason', 'stacktrace', 'attempts_made', 'created_at', 'failed_at', 'redriven_at'],
            filter: {},
            allow_aggregations: true,
          },
        },
      ],
    },
  ],
  actions: {
    jobsEnqueue: { handler: jobsEnqueue, permissions: OPERATORS, timeout: 30 },
    jobsEnqueueBulk: { handler: jobsEnqueueBulk, permissions: OPERATORS, timeout: 60 },
    jobsGet: { handler: jobsGet, permissions: OPERATORS, timeout: 10 },
    jobsList: { handler: jobsList, permissions: OPERATORS, timeout: 30 },
    jobsStats: { handler: jobsStats, permissions: OPERATORS, timeout: 30 },
    jobsRetry: { handler: jobsRetry, permissions: OPERATORS, timeout: 30 },
    jobsCancel: { handler: jobsCancel, permissions: OPERATORS, timeout: 30 },
    jobsPromote: { handler: jobsPromote, permissions: OPERATORS, timeout: 30 },
    jobsPauseQueue: { handler: jobsPauseQueue, permissions: OPERATORS, timeout: 30 },
    jobsResumeQueue: { handler: jobsResumeQueue, permissions: OPERATORS, timeout: 30 },
    jobsDrainQueue: { handler: jobsDrainQueue, permissions: [], timeout: 60, comment: 'admin only: removes waiting jobs' },
    jobsSchedule: { handler: jobsSchedule, permissions: OPERATORS, timeout: 30 },
    jobsUnschedule: { handler: jobsUnschedule, permissions: OPERATORS, timeout: 30 },
    jobsSchedules: { handler: jobsSchedules, permissions: OPERATORS, timeout: 30 },
  },
  crons: {
    jobs_clean_finished: {
      schedule: '7 * * * *',
      payload: {},
      retry_conf: { num_retries: 2, retry_interval_seconds: 300, timeout_seconds: 300, tolerance_seconds: 3600 },
      comment: 'Removes completed and failed jobs past their retention age from every queue',
      handler: jobsCleanFinished,
    },
    jobs_prune_dead_letters: {
      schedule: '37 3 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 600, timeout_seconds: 300, tolerance_seconds: 21600 },
      comment: 'Keeps jobs.dead_letter within its retention age and row cap',
      handler: jobsPruneDeadLetters,
    },
  },
  services: [jobsService],
  async start(runtime) {
    const jobs = runtime.service(jobsService);
    await jobs.applyCodeSchedules();
    if (runtime.config.JOBS_WORKERS) await jobs.startWorkers(parseQueueList(runtime.config.JOBS_QUEUES));
    // Workers stop before the server's other cleanups; the service's own close stops any left.
    return () => jobs.stopWorkers();
  },
  routesMount: 'admin',
  routes(router, runtime) {
    if (!runtime.config.JOBS_DASHBOARD_ENABLED) return;
    router.use(dashboardRouter(async () => runtime.service(jobsService), runtime.config));
  },
});
