/** The GraphQL output shapes of `actions/jobs/actions.graphql`, and BullMQ objects turned into them. */
import type { Job, JobSchedulerJson } from 'bullmq';

export type JobsStateName = 'waiting' | 'active' | 'delayed' | 'prioritized' | 'completed' | 'failed' | 'waiting_children';
export const JOB_STATES: readonly JobsStateName[] = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting_children'];

export interface JobsJob {
  id: string;
  queue: string;
  name: string;
  state: JobsStateName;
  data: unknown;
  progress: unknown;
  returnValue: unknown;
  failedReason: string | null;
  stacktrace: string[];
  attemptsMade: number;
  maxAttempts: number;
  priority: number;
  delayMs: number;
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
}

export interface JobsPage {
  items: JobsJob[];
  nextCursor: string | null;
}

export interface JobsQueueStats {
  queue: string;
  paused: boolean;
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  completed: number;
  failed: number;
  waitingChildren: number;
}

export interface JobsCancelResult {
  id: string;
  queue: string;
  previousState: JobsStateName;
  outcome: 'removed' | 'cancelled' | 'cancelling';
}

export interface JobsDrainResult {
  queue: string;
  removed: number;
}

export interface JobsSchedule {
  id: string;
  name: string;
  queue: string;
  cron: string;
  timezone: string;
  data: unknown;
  nextRunAt: string | null;
  fromCode: boolean;
}

export interface JobsUnscheduleResult {
  id: string;
  removed: boolean;
}

/** BullMQ state names → GraphQL enum values (`waiting-children` is not a valid enum value). */
export function stateName(state: string): JobsStateName {
  if (state === 'waiting-children') return 'waiting_children';
  if (state === 'wait' || state === 'paused' || state === 'unknown') return 'waiting';
  return state as JobsStateName;
}

export function bullState(state: JobsStateName): 'waiting' | 'active' | 'delayed' | 'prioritized' | 'completed' | 'failed' | 'waiting-children' {
  return state === 'waiting_children' ? 'waiting-children' : state;
}

const iso = (ms: number | undefined | null): string | null => (ms ? new Date(ms).toISOString() : null);

export function jobOutput(queue: string, job: Job, state: string): JobsJob {
  return {
    id: job.id!,
    queue,
    name: job.name,
    state: stateName(state),
    data: job.data ?? null,
    progress: job.progress ?? null,
    returnValue: job.returnvalue ?? null,
    failedReason: job.failedReason || null,
    stacktrace: (job.stacktrace ?? []).filter((s): s is string => typeof s === 'string'),
    attemptsMade: job.attemptsMade ?? 0,
    maxAttempts: job.opts.attempts ?? 1,
    priority: job.priority ?? 0,
    delayMs: job.delay ?? 0,
    createdAt: new Date(job.timestamp).toISOString(),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
  };
}

export const CODE_SCHEDULE_SUFFIX = '@code';

export function scheduleOutput(queue: string, s: JobSchedulerJson): JobsSchedule {
  return {
    id: s.key,
    name: s.name,
    queue,
    cron: s.pattern ?? '',
    timezone: s.tz ?? 'UTC',
    data: s.template?.data ?? null,
    nextRunAt: iso(s.next),
    fromCode: s.key.endsWith(CODE_SCHEDULE_SUFFIX),
  };
}
