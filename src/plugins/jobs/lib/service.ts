/**
 * The jobs plugin at run time: the registry, the queues it names, their workers, and every operation the
 * GraphQL actions, crons, CLI and dashboard perform. One per runtime (see `runtime.ts`).
 */
import { hostname } from 'node:os';
import type { Job, JobsOptions, JobType, Queue, Worker } from 'bullmq';
import { ActionError } from '../../../core/errors.js';
import type { Logger } from 'pino';
import type { CoreConfig, Db, PluginRuntime } from '../../../core/plugin.js';
import type { QueueProvider } from '../../../core/queue-types.js';
import { Redis } from 'ioredis';
import { backendKeyNames, queueDamage, repairRedisQueue } from '../../../core/queue.js';
import type { JobsConfig } from '../config.js';
import type { JobDefinition } from './define-job.js';
import type { JobRegistry } from './registry.js';
import { defaultsFrom, jobOptions, parseJobData, JobDataError, JobOptionsError, type EnqueueOptions, type Enqueuer, type JobDefaults } from './enqueue.js';
import { jobsError, loggableError, QueueAddError } from './errors.js';
import { textProblem } from './storable.js';
import { jobIdProblem } from './names.js';
import { cronProblem, timezoneProblem } from './cron.js';
import { createProcessor } from './processor.js';
import { AddBatcher } from './batcher.js';
import { CancelListener, publishCancel } from './cancel-bus.js';
import { latestDeadLetter, markRedriven, recordDeadLetter, recordRemovedJob } from './dead-letter.js';
import {
  bullState,
  CODE_SCHEDULE_SUFFIX,
  jobOutput,
  scheduleOutput,
  stateName,
  type JobsCancelResult,
  type JobsDrainResult,
  type JobsJob,
  type JobsPage,
  type JobsQueueStats,
  type JobsSchedule,
  type JobsStateName,
  type JobsUnscheduleResult,
} from './output.js';

export interface JobsServiceDeps {
  provider: QueueProvider;
  db: Db;
  log: Logger;
  core: Readonly<CoreConfig>;
  config: Readonly<JobsConfig>;
  registry: JobRegistry;
  /** Settings of each enabled plugin, handed to the jobs it contributed. */
  pluginConfig?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** Runtime of an enabled plugin, for the features and services of the jobs it contributed. */
  runtimeOf?: (plugin: string) => PluginRuntime;
}

/**
 * The PostgreSQL backend keeps a paused queue's waiting jobs in a `paused` list that BullMQ 6's typings no
 * longer name (Redis keeps them in `wait`); counting both keeps "waiting" right on either backend.
 */
const PAUSED = 'paused' as JobType;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class JobsService {
  readonly registry: JobRegistry;
  readonly defaults: JobDefaults;
  private readonly workers = new Map<string, Worker>();
  private readonly batchers = new Map<string, AddBatcher>();
  private cancels: CancelListener | null = null;
  /** Queues whose storage would make BullMQ fail, with the reason; left alone until repaired. */
  private readonly damaged = new Map<string, string>();
  private checked: Promise<void> | undefined;

  constructor(private readonly deps: JobsServiceDeps) {
    this.registry = deps.registry;
    this.defaults = defaultsFrom(deps.config as JobsConfig, deps.provider.backend);
  }

  /** What `defineJob(...).enqueue` uses on this provider: these defaults and the batched adds. */
  enqueuer(): Enqueuer {
    return { defaults: this.defaults, add: (queue, name, data, opts) => this.batcher(queue, this.queue(queue)).add(name, data, opts) };
  }

  get backend(): 'redis' | 'postgres' {
    return this.deps.provider.backend;
  }

  /** The shared BullMQ queue; unknown names are a 404 so a typo never creates a queue. */
  queue(name: string): Queue {
    if (!this.registry.hasQueue(name)) {
      throw jobsError('jobs/unknown-queue', `no queue named "${name}"; known queues: ${this.registry.queues().join(', ')}`);
    }
    const damage = this.damaged.get(name);
    if (damage) throw jobsError('jobs/queue-damaged', `queue "${name}" is not used until it is repaired: ${damage}`);
    return this.deps.provider.queue(name);
  }

  /** The known queues that can be used (all but damaged ones). */
  usableQueues(): string[] {
    return this.registry.queues().filter((n) => !this.damaged.has(n));
  }

  /**
   * Looks for storage that would make every BullMQ call on a queue fail (see `queueDamage`): such a queue is
   * reported once, loudly, with the way to repair it, and then left out (no worker, no schedules, its
   * actions answer 409) so that the rest of the service starts and runs. Runs once per service.
   */
  checkQueues(): Promise<void> {
    this.checked ??= (async () => {
      for (const name of this.registry.queues()) {
        const damage = await queueDamage(this.deps.provider.queue(name));
        if (!damage.length) continue;
        const keys = damage.map((d) => d.key);
        this.damaged.set(name, damage.map((d) => `${d.key} ${d.problem}`).join('; '));
        this.deps.log.error(
          { queue: name, keys, damage },
          `queue "${name}" is damaged and will not be used: ${damage.map((d) => `${d.key} ${d.problem}`).join('; ')}. ` +
            `Such ids are refused now; to repair it, run \`nself-plugins job repair ${name}\` (the jobs are kept in jobs.dead_letter) and restart.`,
        );
      }
    })().catch((e: unknown) => {
      this.checked = undefined;
      throw e;
    });
    return this.checked;
  }

  /**
   * Takes the jobs that damage a queue out of it (see `repairRedisQueue`), keeping each as a dead letter,
   * after which the queue is used again. All known queues unless `only` is given.
   */
  async repairQueues(only?: readonly string[]): Promise<{ queue: string; removed: string[]; left: string[] }[]> {
    const redisUrl = this.deps.core.REDIS_URL;
    // Jobs are rows keyed by (queue, id) on PostgreSQL: no id can damage a queue there.
    if (this.backend !== 'redis' || !redisUrl) return [];
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const out: { queue: string; removed: string[]; left: string[] }[] = [];
      for (const name of only ?? this.registry.queues()) {
        const { removed, left } = await repairRedisQueue(redis, this.deps.provider.queue(name));
        for (const job of removed) {
          await recordRemovedJob(this.deps.db, name, job, `removed by "nself-plugins job repair": its id "${job.id}" is one of BullMQ's own key names, which broke the queue`);
        }
        if (removed.length || left.length) out.push({ queue: name, removed: removed.map((r) => r.id), left: left.map((l) => `${l.key} ${l.problem}`) });
        if (!left.length) this.damaged.delete(name);
        if (removed.length) this.deps.log.warn({ queue: name, jobIds: removed.map((r) => r.id) }, 'queue repaired: jobs with reserved ids moved to jobs.dead_letter');
      }
      return out;
    } finally {
      redis.disconnect();
    }
  }

  definition(name: string): JobDefinition {
    const entry = this.registry.get(name);
    if (!entry) {
      const known = this.registry.all().map((j) => j.def.name).sort();
      throw jobsError('jobs/unknown-job', `no job named "${name}" is registered${known.length ? `; known jobs: ${known.slice(0, 50).join(', ')}` : ''}`);
    }
    return entry.def;
  }

  /* ------------------------------------------------------------------ enqueue and inspect */

  async enqueue(name: string, data: unknown, opts: EnqueueOptions = {}): Promise<JobsJob> {
    return this.add(this.prepare(name, data, opts));
  }

  /**
   * Enqueues many jobs at once: every item is checked first and one bad item rejects the call with its
   * index, enqueueing nothing; the adds then go out as bulk adds per queue.
   */
  async enqueueMany(items: readonly { name: string; data: unknown; opts?: EnqueueOptions }[]): Promise<JobsJob[]> {
    const prepared = items.map((item, i) => {
      try {
        return this.prepare(item.name, item.data, item.opts ?? {});
      } catch (e) {
        if (e instanceof ActionError) throw new ActionError(e.code, `jobs[${i}]: ${e.message}`, e.status, { ...e.extensions, index: i });
        throw e;
      }
    });
    for (const p of prepared) this.queue(p.def.queue);
    // One add for the whole call, transactional where the backend allows (see QueueProvider.addBulk): the
    // checks above leave the backend nothing to refuse, and a failure of the backend itself adds nothing
    // on PostgreSQL.
    let added: Job[];
    try {
      added = await this.deps.provider.addBulk(prepared.map((p) => ({ queue: p.def.queue, name: p.def.name, data: p.data, opts: p.jobsOpts })));
    } catch (e) {
      throw new QueueAddError([...new Set(prepared.map((p) => p.def.queue))].join('", "'), e);
    }
    return Promise.all(prepared.map((p, i) => this.output(p, added[i]!)));
  }

  private prepare(name: string, data: unknown, opts: EnqueueOptions): { def: JobDefinition; data: unknown; opts: EnqueueOptions; jobsOpts: JobsOptions } {
    const def = this.definition(name);
    try {
      parseJobData(def, data, this.defaults.maxDataBytes);
      return { def, data, opts, jobsOpts: jobOptions(def, opts, this.defaults) };
    } catch (e) {
      if (e instanceof JobDataError) throw jobsError('jobs/invalid-data', e.message, { issues: e.issues.map((i) => ({ path: i.path.map(String), message: i.message })) });
      if (e instanceof JobOptionsError) throw jobsError(opts.jobId !== undefined && jobIdProblem(opts.jobId) ? 'jobs/invalid-job-id' : 'jobs/invalid-input', e.message);
      throw e;
    }
  }

  private async add(p: ReturnType<JobsService['prepare']>): Promise<JobsJob> {
    return this.output(p, await this.addOne(p));
  }

  private async addOne({ def, data, opts, jobsOpts }: ReturnType<JobsService['prepare']>): Promise<Job> {
    const q = this.queue(def.queue);
    try {
      // Deduplicated adds go alone: their outcome depends on what is already queued, which a bulk hides.
      return opts.dedup ? await q.add(def.name, data, jobsOpts) : await this.batcher(def.queue, q).add(def.name, data, jobsOpts);
    } catch (e) {
      throw new QueueAddError(def.queue, e);
    }
  }

  /**
   * Enqueues `name` on `queue` (a 400 if the job runs on another queue) with every check and default of
   * `enqueue`, answering BullMQ's job itself (the dashboard shows it as it is).
   */
  async enqueueOn(queue: string, name: string, data: unknown, opts: EnqueueOptions): Promise<Job> {
    this.assertRunsOn(queue, name);
    return this.addOne(this.prepare(name, data, opts));
  }

  /** Throws what `enqueueOn` would refuse for this data and these options, adding nothing. */
  check(queue: string, name: string, data: unknown, opts: EnqueueOptions = {}): void {
    this.assertRunsOn(queue, name);
    this.prepare(name, data, opts);
  }

  private assertRunsOn(queue: string, name: string): void {
    const def = this.definition(name);
    if (def.queue !== queue) throw jobsError('jobs/invalid-input', `job "${name}" runs on queue "${def.queue}", not "${queue}"`);
  }

  private async output({ def, opts }: ReturnType<JobsService['prepare']>, job: Job): Promise<JobsJob> {
    if (opts.jobId === undefined && !opts.dedup) {
      return jobOutput(def.queue, job, job.delay > 0 ? 'delayed' : job.priority > 0 ? 'prioritized' : 'waiting');
    }
    // With an id or dedup key BullMQ may have kept an earlier job: answer with what the queue holds.
    const stored = (await this.queue(def.queue).getJob(job.id!)) ?? job;
    return jobOutput(def.queue, stored, await stored.getState());
  }

  private batcher(name: string, q: Queue): AddBatcher {
    let b = this.batchers.get(name);
    if (!b) this.batchers.set(name, (b = new AddBatcher(q)));
    return b;
  }

  private async findJob(queue: string, id: string): Promise<{ q: Queue; job: Job | undefined }> {
    const q = this.queue(queue);
    // Ids of any shape may exist (BullMQ numbers its own jobs, schedules use `repeat:…`); only absurd ones,
    // text no backend can hold (PostgreSQL would fail the lookup) and BullMQ's own key names (on Redis the
    // lookup would read a queue structure) are skipped.
    if (id.length > 512 || textProblem(id) || backendKeyNames().has(id)) return { q, job: undefined };
    return { q, job: await q.getJob(id) };
  }

  async get(queue: string, id: string): Promise<JobsJob | null> {
    const { q, job } = await this.findJob(queue, id);
    if (!job) return null;
    const state = await job.getState();
    // The job and its state are two reads: a job that finished between them is read again, so a failed
    // job never comes back without its reason (or a completed one without its result).
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) {
      const again = await q.getJob(id);
      if (again) return jobOutput(queue, again, await again.getState());
    }
    return jobOutput(queue, job, state);
  }

  async list(queue: string, state: JobsStateName, cursor: string | null | undefined, limit = 20): Promise<JobsPage> {
    const q = this.queue(queue);
    const offset = cursor ? decodeCursor(cursor) : 0;
    // One extra tells whether a next page exists without a count query.
    // A paused queue holds its waiting jobs in a `paused` list on some backends: both are "waiting" here.
    const types: JobType[] = state === 'waiting' ? ['waiting', PAUSED] : [bullState(state)];
    const jobs = await q.getJobs(types, offset, offset + limit, false);
    const page = jobs.filter((j): j is Job => !!j).slice(0, limit);
    return {
      items: page.map((j) => jobOutput(queue, j, state)),
      nextCursor: jobs.length > limit ? encodeCursor(offset + limit) : null,
    };
  }

  async stats(queue?: string | null): Promise<JobsQueueStats[]> {
    return Promise.all((queue ? [queue] : this.usableQueues()).map((n) => this.queueStats(n)));
  }

  private async queueStats(name: string): Promise<JobsQueueStats> {
    const q = this.queue(name);
    const [c, paused] = await Promise.all([
      q.getJobCounts('waiting', PAUSED, 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children'),
      q.isPaused(),
    ]);
    return {
      queue: name,
      paused,
      waiting: (c.waiting ?? 0) + (c.paused ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      prioritized: c.prioritized ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      waitingChildren: c['waiting-children'] ?? 0,
    };
  }

  /* ------------------------------------------------------------------ operate on jobs */

  async retry(queue: string, id: string): Promise<JobsJob> {
    const { q, job } = await this.findJob(queue, id);
    if (!job) return this.redrive(q, queue, id);
    const state = await job.getState();
    if (state !== 'failed' && state !== 'completed') {
      throw jobsError('jobs/not-retryable', `job "${id}" is ${stateName(state)}; only failed or completed jobs can be retried`);
    }
    await job.retry(state);
    if (state === 'failed') {
      const dl = await latestDeadLetter(this.deps.db, queue, id);
      if (dl) await markRedriven(this.deps.db, dl.id);
    }
    return (await this.get(queue, id))!;
  }

  /** The queue trimmed the failed job away: enqueue it again from its dead-letter record. */
  private async redrive(q: Queue, queue: string, id: string): Promise<JobsJob> {
    const dl = await latestDeadLetter(this.deps.db, queue, id);
    if (!dl) throw jobsError('jobs/job-not-found', `no job "${id}" in queue "${queue}" and no dead-letter record of it`);
    const def = this.definition(dl.name);
    // BullMQ refuses custom ids that look like its own counter, so an auto-numbered job comes back numbered anew.
    const job = await q.add(dl.name, dl.data, jobOptions(def, jobIdProblem(id) ? {} : { jobId: id }, this.defaults));
    await markRedriven(this.deps.db, dl.id);
    return jobOutput(queue, job, await job.getState());
  }

  async cancel(queue: string, id: string, reason = 'cancelled by request'): Promise<JobsCancelResult> {
    const { job } = await this.findJob(queue, id);
    if (!job) throw jobsError('jobs/job-not-found', `no job "${id}" in queue "${queue}"`);
    const state = await job.getState();
    const previousState = stateName(state);
    if (state === 'completed' || state === 'failed') {
      throw jobsError('jobs/not-cancellable', `job "${id}" has already ${state === 'completed' ? 'completed' : 'failed'}`);
    }
    if (state !== 'active') {
      try {
        await job.remove();
        return { id, queue, previousState, outcome: 'removed' };
      } catch (e) {
        // It started between the state read and the removal (BullMQ refuses to remove a locked job).
        if ((await job.getState()) !== 'active') throw e;
      }
    }
    await publishCancel(this.deps.db, this.deps.provider.notifications, queue, id, reason);
    for (let i = 0; i < 30; i++) {
      await sleep(100);
      if ((await job.getState()) !== 'active') return { id, queue, previousState: 'active', outcome: 'cancelled' };
    }
    return { id, queue, previousState: 'active', outcome: 'cancelling' };
  }

  async promote(queue: string, id: string): Promise<JobsJob> {
    const { job } = await this.findJob(queue, id);
    if (!job) throw jobsError('jobs/job-not-found', `no job "${id}" in queue "${queue}"`);
    const state = await job.getState();
    if (state !== 'delayed') throw jobsError('jobs/not-delayed', `job "${id}" is ${stateName(state)}, not delayed`);
    await job.promote();
    return (await this.get(queue, id))!;
  }

  /* ------------------------------------------------------------------ operate on queues */

  async pause(queue: string): Promise<JobsQueueStats> {
    await this.queue(queue).pause();
    return this.queueStats(queue);
  }

  async resume(queue: string): Promise<JobsQueueStats> {
    await this.queue(queue).resume();
    return this.queueStats(queue);
  }

  async drain(queue: string, delayed = false): Promise<JobsDrainResult> {
    const q = this.queue(queue);
    const types: JobType[] = ['waiting', PAUSED, 'prioritized', ...(delayed ? (['delayed'] as const) : [])];
    const before = await q.getJobCountByTypes(...types);
    await q.drain(delayed);
    const after = await q.getJobCountByTypes(...types);
    return { queue, removed: Math.max(0, before - after) };
  }

  /**
   * Removes finished jobs past their retention age, and the oldest beyond the count limits, from every queue.
   * BullMQ applies `removeOnComplete` / `removeOnFail` only when another job finishes (an idle queue would
   * keep its old jobs forever), and on PostgreSQL the count limits are left to this clean (see `defaultsFrom`).
   */
  async cleanFinished(limitPerQueue = 10_000): Promise<{ queue: string; completed: number; failed: number }[]> {
    const { removeOnComplete, removeOnFail, maxCompleted, maxFailed } = this.defaults;
    const clean = async (q: Queue, type: 'completed' | 'failed', ageSeconds: number, maxCount: number) => {
      let removed = ageSeconds > 0 ? (await q.clean(ageSeconds * 1000, limitPerQueue, type)).length : 0;
      if (maxCount > 0) {
        // Newest first, so everything from index maxCount on is over the limit.
        const over = (await q.getJobs([type], maxCount, maxCount + limitPerQueue - 1, false)).filter((j): j is Job => !!j);
        for (let i = 0; i < over.length; i += 100) {
          const done = await Promise.all(over.slice(i, i + 100).map((j) => j.remove().then(() => 1, () => 0)));
          removed += done.reduce<number>((a, b) => a + b, 0);
        }
      }
      return removed;
    };
    return Promise.all(
      this.usableQueues().map(async (name) => {
        const q = this.deps.provider.queue(name);
        return {
          queue: name,
          completed: await clean(q, 'completed', removeOnComplete.age, maxCompleted),
          failed: await clean(q, 'failed', removeOnFail.age, maxFailed),
        };
      }),
    );
  }

  /* ------------------------------------------------------------------ schedules */

  async schedule(input: { name: string; cron: string; timezone?: string | null; data?: unknown; id?: string | null }): Promise<JobsSchedule> {
    const def = this.definition(input.name);
    const tz = input.timezone ?? 'UTC';
    const tzProblem = timezoneProblem(tz);
    if (tzProblem) throw jobsError('jobs/invalid-timezone', tzProblem);
    const cronError = cronProblem(input.cron, tz);
    if (cronError) throw jobsError('jobs/invalid-cron', cronError);
    const id = input.id ?? def.name;
    const idProblem = scheduleIdProblem(id);
    if (idProblem) throw jobsError('jobs/invalid-input', idProblem);
    const data = input.data ?? {};
    try {
      parseJobData(def, data, this.defaults.maxDataBytes);
    } catch (e) {
      if (e instanceof JobDataError) throw jobsError('jobs/invalid-data', e.message);
      throw e;
    }
    return this.upsertSchedule(def, id, input.cron, tz, data);
  }

  private async upsertSchedule(def: JobDefinition, id: string, cron: string, tz: string, data: unknown): Promise<JobsSchedule> {
    // A schedule id is unique across queues: if the job moved to another queue, the old one goes.
    await Promise.all(this.usableQueues().filter((n) => n !== def.queue).map((n) => this.deps.provider.queue(n).removeJobScheduler(id)));
    const { jobId: _j, delay: _d, deduplication: _x, ...opts } = jobOptions(def, {}, this.defaults);
    const q = this.queue(def.queue);
    await q.upsertJobScheduler(id, { pattern: cron, tz }, { name: def.name, data, opts });
    const s = await q.getJobScheduler(id);
    return s ? scheduleOutput(def.queue, s) : { id, name: def.name, queue: def.queue, cron, timezone: tz, data, nextRunAt: null, fromCode: false };
  }

  async unschedule(id: string): Promise<JobsUnscheduleResult> {
    const removed = await Promise.all(this.usableQueues().map((n) => this.deps.provider.queue(n).removeJobScheduler(id)));
    if (!removed.some(Boolean)) throw jobsError('jobs/schedule-not-found', `no schedule with id "${id}"`);
    return { id, removed: true };
  }

  async schedules(): Promise<JobsSchedule[]> {
    await this.checkQueues();
    const all = await Promise.all(
      this.usableQueues().map(async (n) => (await this.deps.provider.queue(n).getJobSchedulers(0, -1, true)).map((s) => scheduleOutput(n, s))),
    );
    return all.flat().sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Makes the schedules declared in job definitions true, and removes those whose declaration is gone. */
  async applyCodeSchedules(): Promise<void> {
    const wanted = new Map(this.registry.all().filter((j) => j.def.schedule).map((j) => [`${j.def.name}${CODE_SCHEDULE_SUFFIX}`, j.def]));
    for (const s of await this.schedules()) {
      if (s.fromCode && !wanted.has(s.id)) await this.deps.provider.queue(s.queue).removeJobScheduler(s.id);
    }
    for (const [id, def] of wanted) {
      if (this.damaged.has(def.queue)) {
        this.deps.log.warn({ schedule: id, queue: def.queue }, 'schedule not applied: its queue is damaged');
        continue;
      }
      await this.upsertSchedule(def, id, def.schedule!.cron, def.schedule!.tz ?? 'UTC', def.schedule!.data ?? {});
    }
  }

  /* ------------------------------------------------------------------ workers */

  /** Starts one worker per queue (all known queues, or `only`). */
  async startWorkers(only?: readonly string[]): Promise<string[]> {
    await this.checkQueues();
    const names = (only ?? this.registry.queues()).filter((n) => {
      if (!this.damaged.has(n)) return true;
      this.deps.log.error({ queue: n }, 'no worker for queue "%s": it is damaged (see the error above)', n);
      return false;
    });
    for (const n of names) this.queue(n);
    const { config, log } = this.deps;
    if (!this.cancels) {
      this.cancels = new CancelListener(this.deps.db.pool, log, this.deps.provider.notifications);
      await this.cancels.start();
    }
    for (const name of names) {
      if (this.workers.has(name)) continue;
      const settings = this.registry.queueSettings(name);
      const processor = createProcessor({
        queueName: name,
        registry: this.registry,
        provider: this.deps.provider,
        db: this.deps.db,
        log,
        core: this.deps.core,
        appConfig: config,
        pluginConfig: this.deps.pluginConfig ?? new Map(),
        runtimeOf: this.deps.runtimeOf,
        defaultTimeoutMs: config.JOBS_DEFAULT_TIMEOUT_MS,
        cancels: this.cancels,
      });
      const worker = this.deps.provider.worker(name, processor, {
        name: `${hostname()}:${process.pid}`,
        concurrency: settings.concurrency ?? config.JOBS_CONCURRENCY,
        ...(settings.rateLimit ? { limiter: { max: settings.rateLimit.max, duration: settings.rateLimit.durationMs } } : {}),
        lockDuration: config.JOBS_LOCK_DURATION_MS,
        stalledInterval: config.JOBS_STALLED_INTERVAL_MS,
        maxStalledCount: config.JOBS_MAX_STALLED_COUNT,
        removeOnComplete: this.defaults.removeOnComplete,
        removeOnFail: this.defaults.removeOnFail,
      });
      worker.on('failed', (job, err) => {
        // `finishedOn` is only set when the job failed for good, not when a retry was scheduled.
        if (!job?.finishedOn) return;
        // The job's data stays out of the log (it may hold secrets or personal data): it is in jobs.dead_letter.
        log.error({ queue: name, jobId: job.id, job: job.name, attempts: job.attemptsMade, error: loggableError(err) }, 'job failed for good');
        recordDeadLetter(this.deps.db, name, job).catch((e) =>
          log.error({ queue: name, jobId: job.id, job: job.name, error: loggableError(e) }, 'could not record dead letter'),
        );
      });
      worker.on('error', (err) => log.error({ error: loggableError(err), queue: name }, 'job worker error'));
      this.workers.set(name, worker);
    }
    await Promise.all([...this.workers.values()].map((w) => w.waitUntilReady()));
    log.info({ queues: names, backend: this.backend }, 'job workers started');
    return [...names];
  }

  get workingQueues(): string[] {
    return [...this.workers.keys()];
  }

  /**
   * Graceful stop: workers take no new jobs and running ones may finish for `timeoutMs`. Jobs still running
   * then keep their lock until this process exits, after which another worker recovers them as stalled.
   */
  async stopWorkers(timeoutMs = this.deps.config.JOBS_SHUTDOWN_TIMEOUT_MS): Promise<void> {
    const workers = [...this.workers.values()];
    this.workers.clear();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all(workers.map((w) => w.close())).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) this.deps.log.warn({ timeoutMs }, 'jobs still running at shutdown; another worker will recover them');
    await this.cancels?.close();
    this.cancels = null;
  }
}

export function scheduleIdProblem(id: string): string | null {
  if (id.length < 1 || id.length > 200) return 'schedule id must be 1–200 characters';
  if (id.includes(':')) return 'schedule id must not contain ":"';
  const text = textProblem(id);
  if (text) return `schedule id ${text}`;
  if (id.endsWith(CODE_SCHEDULE_SUFFIX)) return `schedule ids ending in "${CODE_SCHEDULE_SUFFIX}" are reserved for schedules declared in job definitions`;
  return null;
}

export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof v.o === 'number' && Number.isSafeInteger(v.o) && v.o >= 0 && v.o <= 10_000_000) return v.o;
  } catch {
    /* falls through to the 400 */
  }
  throw jobsError('jobs/invalid-cursor', 'cursor is not one returned by jobsList');
}
