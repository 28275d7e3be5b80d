/**
 * The bull-board part of the jobs dashboard, loaded on the first authorized request (see dashboard.ts): the
 * board over every usable queue, with adds and edits of job data going through the jobs service's checks.
 */
import type express from 'express';
import type { Job, Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { ActionError } from '../../../core/errors.js';
import { backendKeyNames } from '../../../core/queue.js';
import type { JobsConfig } from '../config.js';
import type { JobsService } from './service.js';
import type { EnqueueOptions } from './enqueue.js';
import { jobsError } from './errors.js';

/**
 * The options of the board's "add job" form (BullMQ's names) as `EnqueueOptions`: those `jobsEnqueue` also
 * takes; anything else (`repeat`, retention, …) is a 400.
 */
function boardOptions(options: unknown): EnqueueOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw jobsError('jobs/invalid-input', 'options must be an object');
  const o = options as Record<string, unknown>;
  const allowed = ['jobId', 'delay', 'priority', 'lifo', 'attempts'];
  const other = Object.keys(o).filter((k) => !allowed.includes(k));
  if (other.length) throw jobsError('jobs/invalid-input', `option${other.length > 1 ? 's' : ''} ${other.join(', ')} cannot be set here; allowed: ${allowed.join(', ')}`);
  const int = (k: string, min: number, max: number) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw jobsError('jobs/invalid-input', `${k} must be a whole number from ${min} to ${max}`);
    return v;
  };
  if (o.jobId !== undefined && typeof o.jobId !== 'string') throw jobsError('jobs/invalid-input', 'jobId must be a string');
  if (o.lifo !== undefined && typeof o.lifo !== 'boolean') throw jobsError('jobs/invalid-input', 'lifo must be true or false');
  const delayMs = int('delay', 0, Number.MAX_SAFE_INTEGER);
  const priority = int('priority', 1, 2_097_151);
  const attempts = int('attempts', 1, 1000);
  return {
    ...(o.jobId !== undefined ? { jobId: o.jobId as string } : {}),
    ...(delayMs ? { delayMs } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(o.lifo ? { lifo: true } : {}),
    ...(attempts !== undefined ? { attempts } : {}),
  };
}

/** A refusal bull-board answers with its status (it reads `statusCode`) rather than as a 500. */
function boardError(e: unknown): unknown {
  if (e instanceof ActionError) return Object.assign(new Error(e.message), { statusCode: e.status });
  return e;
}

/**
 * bull-board's BullMQ adapter, with adds and edits of job data going through the jobs service's checks:
 * bull-board's own add would put any data, id and options straight into the queue.
 */
class CheckedQueueAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    private readonly svc: JobsService,
    private readonly queueName: string,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
  ) {
    super(queue, options);
  }

  override async addJob(name: string, data: unknown, options: unknown): Promise<Job> {
    try {
      return await this.svc.enqueueOn(this.queueName, name, data ?? {}, boardOptions(options));
    } catch (e) {
      throw boardError(e);
    }
  }

  override async getJob(id: string): Promise<Job | undefined> {
    // On Redis the lookup of a BullMQ key name would read a queue structure (see jobIdProblem).
    if (backendKeyNames().has(id)) return undefined;
    const job = await super.getJob(id);
    if (!job) return undefined;
    const { svc, queueName } = this;
    const updateData = job.updateData.bind(job);
    const changeDelay = job.changeDelay.bind(job);
    return Object.assign(job, {
      async updateData(data: unknown) {
        try {
          svc.check(queueName, job.name, data);
        } catch (e) {
          throw boardError(e);
        }
        return updateData(data);
      },
      async changeDelay(delay: number) {
        try {
          svc.check(queueName, job.name, job.data, { delayMs: Math.round(delay) });
        } catch (e) {
          throw boardError(e);
        }
        return changeDelay(delay);
      },
    });
  }
}

/** The board's request handler for the queues `svc` can use, mounted at `basePath`. */
export function buildBoard(svc: JobsService, config: JobsConfig, basePath: string): express.RequestHandler {
  const adapter = new ExpressAdapter().setBasePath(basePath);
  createBullBoard({
    queues: svc.usableQueues().map(
      (name) =>
        new CheckedQueueAdapter(svc.queue(name), svc, name, {
          readOnlyMode: config.JOBS_DASHBOARD_READ_ONLY,
          allowRetries: !config.JOBS_DASHBOARD_READ_ONLY,
        }),
    ),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'nself jobs', hideDocsLink: true } },
  });
  return adapter.getRouter() as express.RequestHandler;
}
