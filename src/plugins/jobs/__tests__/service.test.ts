import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ActionError } from '../../../core/errors.js';
import { BACKENDS, createFixture, sleep, waitFor, type Fixture } from './support/fixture.js';
import { testPlugin, track } from './support/test-plugin.js';
import { jobsEnqueue } from '../../../../actions/jobs/jobs-enqueue.js';
import { jobsEnqueueBulk } from '../../../../actions/jobs/jobs-enqueue-bulk.js';
import { jobsGet } from '../../../../actions/jobs/jobs-get.js';
import { jobsList } from '../../../../actions/jobs/jobs-list.js';
import { jobsStats } from '../../../../actions/jobs/jobs-stats.js';
import { jobsSchedule } from '../../../../actions/jobs/jobs-schedule.js';
import { jobsUnschedule } from '../../../../actions/jobs/jobs-unschedule.js';
import { jobsSchedules } from '../../../../actions/jobs/jobs-schedules.js';
import { jobsCancel } from '../../../../actions/jobs/jobs-cancel.js';
import { jobsPromote } from '../../../../actions/jobs/jobs-promote.js';
import { jobsRetry } from '../../../../actions/jobs/jobs-retry.js';
import { jobsPauseQueue } from '../../../../actions/jobs/jobs-pause-queue.js';
import { jobsResumeQueue } from '../../../../actions/jobs/jobs-resume-queue.js';
import { jobsDrainQueue } from '../../../../actions/jobs/jobs-drain-queue.js';
import { randomUUID } from 'node:crypto';

async function rejectsWith(p: Promise<unknown>, code: string, status: number): Promise<ActionError> {
  const e = await p.then(
    () => {
      throw new Error(`expected ${code}, got success`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ActionError);
  expect((e as ActionError).code).toBe(code);
  expect((e as ActionError).status).toBe(status);
  return e as ActionError;
}

const tag = () => randomUUID();

describe.each(BACKENDS)('jobs service on %s', (backend) => {
  let f: Fixture;
  const pluginConfig = new Map([['jt', Object.freeze({ JT_SETTING: 'from-plugin' })]]);

  beforeAll(async () => {
    f = await createFixture(backend, 11, {
      plugins: [testPlugin],
      pluginConfig,
      env: { JOBS_FAILED_MAX_COUNT: '3', JOBS_STALLED_INTERVAL_MS: '5000' },
    });
    await f.jobs.startWorkers();
  });
  afterAll(async () => {
    await f?.close();
  });

  const ctx = () => f.actionCtx();

  it('knows the default queues and the plugin queues', () => {
    expect(f.jobs.registry.queues()).toEqual(['default', 'high-priority', 'low-priority', 'scheduled', 'jt.limited', 'jt.serial', 'jt.slow']);
    expect(f.jobs.workingQueues.sort()).toEqual([...f.jobs.registry.queues()].sort());
  });

  it('enqueues through jobsEnqueue, runs the handler with its plugin config and reports progress and result', async () => {
    const t = tag();
    const job = await jobsEnqueue({ name: 'jt.echo', data: { tag: t, label: 'hello', progress: true } }, ctx());
    expect(job).toMatchObject({ queue: 'default', name: 'jt.echo', state: 'waiting', attemptsMade: 0, maxAttempts: 3 });
    const done = await waitFor(async () => {
      const j = await jobsGet({ queue: 'default', id: job.id }, ctx());
      return j?.state === 'completed' ? j : null;
    });
    expect(done.returnValue).toEqual({ echoed: 'hello', attempt: 1 });
    expect(done.progress).toEqual({ step: 1, of: 2 });
    expect(done.finishedAt).not.toBeNull();
    expect(track(t).config[0]).toEqual({ JT_SETTING: 'from-plugin' });
  });

  it('rejects unknown job names, bad data, bad options and unknown queues with 4xx and enqueues nothing', async () => {
    const before = await f.jobs.stats('default');
    await rejectsWith(jobsEnqueue({ name: 'nope.missing', data: {} }, ctx()), 'jobs/unknown-job', 404);
    const bad = await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 42 } }, ctx()), 'jobs/invalid-data', 400);
    expect(bad.message).toMatch(/tag/);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'a' }, options: { jobId: '123' } }, ctx()), 'jobs/invalid-job-id', 400);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'a' }, options: { jobId: 'a:b' } }, ctx()), 'jobs/invalid-job-id', 400);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'a' }, options: { priority: 0 } }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'a' }, options: { delayMs: 5, runAt: new Date().toISOString() } }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'a' }, options: { runAt: 'tomorrow' } }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsEnqueue({ name: 42, data: {} }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsGet({ queue: 'nowhere', id: 'x' }, ctx()), 'jobs/unknown-queue', 404);
    await rejectsWith(jobsList({ queue: 'default', state: 'sleeping' }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsList({ queue: 'default', state: 'failed', cursor: 'garbage!' }, ctx()), 'jobs/invalid-cursor', 400);
    const after = await f.jobs.stats('default');
    expect(after[0]!.waiting + after[0]!.active + after[0]!.delayed).toBe(before[0]!.waiting + before[0]!.active + before[0]!.delayed);
  });

  it('enqueues in bulk, in order, and refuses the whole batch when one item is bad', async () => {
    const t = tag();
    const before = (await f.jobs.stats('jt.serial'))[0]!;
    const bad = await rejectsWith(
      jobsEnqueueBulk({ jobs: [{ name: 'jt.serial', data: { tag: t, label: 'a' } }, { name: 'jt.serial', data: { tag: t } }] }, ctx()),
      'jobs/invalid-data',
      400,
    );
    expect(bad.message).toMatch(/^jobs\[1\]: /);
    expect(bad.extensions).toMatchObject({ index: 1 });
    await rejectsWith(jobsEnqueueBulk({ jobs: [] }, ctx()), 'jobs/invalid-input', 400);
    await rejectsWith(jobsEnqueueBulk({ jobs: [{ name: 'nope', data: {} }] }, ctx()), 'jobs/unknown-job', 404);
    const after = (await f.jobs.stats('jt.serial'))[0]!;
    expect(after.waiting + after.completed).toBe(before.waiting + before.completed);

    const labels = Array.from({ length: 25 }, (_, i) => `b${i}`);
    const jobs = await jobsEnqueueBulk({ jobs: [...labels.map((label) => ({ name: 'jt.serial', data: { tag: t, label } })), { name: 'jt.echo', data: { tag: t, label: 'echo' } }] }, ctx());
    expect(jobs.map((j) => j.queue)).toEqual([...labels.map(() => 'jt.serial'), 'default']);
    await waitFor(() => track(t).order.length === 26);
    // jt.serial runs one at a time, so its order is the enqueue order.
    expect(track(t).order.filter((l) => l !== 'echo')).toEqual(labels);
  });

  it('lets other plugins enqueue a definition from their handler context, with the same checks', async () => {
    const t = tag();
    const { echo } = await import('./support/test-plugin.js');
    const ctxOfAnotherPlugin = { ...f.actionCtx(), plugin: 'jt' };
    const queued = await echo.enqueue(ctxOfAnotherPlugin, { tag: t, label: 'from a handler' }, { priority: 3 });
    expect(queued).toMatchObject({ queue: 'default', name: 'jt.echo' });
    expect(queued.job.opts).toMatchObject({ attempts: 3, priority: 3, removeOnComplete: f.jobs.defaults.removeOnComplete });
    await waitFor(() => track(t).order.includes('from a handler'));
    await expect(echo.enqueue(ctxOfAnotherPlugin, { tag: 5 } as never)).rejects.toThrow(/data of job "jt.echo" is invalid: tag/);
  });

  it('retries with exponential backoff until the handler succeeds', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.flaky', { tag: t, failTimes: 2 });
    const done = await waitFor(async () => ((await f.jobs.get('default', job.id))?.state === 'completed' ? f.jobs.get('default', job.id) : null));
    expect(track(t).attempts).toEqual([1, 2, 3]);
    expect(done!.attemptsMade).toBe(3);
  });

  it('does not retry UnrecoverableError and records the dead letter with reason, attempts and stack', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.fatal', { tag: t });
    const failed = await waitFor(async () => {
      const j = await f.jobs.get('default', job.id);
      return j?.state === 'failed' ? j : null;
    });
    expect(track(t).runs).toBe(1);
    expect(failed.failedReason).toBe('card declined for good');
    const row = await waitFor(async () => (await f.db.query(`SELECT * FROM jobs.dead_letter WHERE job_id = $1`, [job.id])).rows[0]);
    expect(row).toMatchObject({ queue: 'default', name: 'jt.fatal', failed_reason: 'card declined for good', attempts_made: 1, data: { tag: t } });
    expect((row.stacktrace as string[]).join('\n')).toMatch(/UnrecoverableError|card declined/);
  });

  it('fails an attempt that overruns its timeout and aborts the handler signal', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.slow', { tag: t, ms: 5000 });
    const failed = await waitFor(async () => {
      const j = await f.jobs.get('jt.slow', job.id);
      return j?.state === 'failed' ? j : null;
    });
    expect(failed.failedReason).toBe('timed out after 400 ms');
    expect(track(t).signals).toEqual(['timed out after 400 ms']);
    // A per-run timeout overrides the definition's.
    const t2 = tag();
    const quick = await f.jobs.enqueue('jt.slow', { tag: t2, ms: 600 }, { timeoutMs: 2000 });
    await waitFor(async () => (await f.jobs.get('jt.slow', quick.id))?.state === 'completed');
  });

  it('gives every attempt its own deadline when timeouts differ within a queue', async () => {
    const t = tag();
    const long = await f.jobs.enqueue('jt.slow', { tag: t, ms: 1500 }, { timeoutMs: 10_000 });
    await waitFor(async () => (await f.jobs.get('jt.slow', long.id))?.state === 'active');
    // Both end before the first attempt's deadline, the shorter one first.
    const short = await f.jobs.enqueue('jt.slow', { tag: t, ms: 10_000 });
    const mid = await f.jobs.enqueue('jt.slow', { tag: t, ms: 10_000 }, { timeoutMs: 900 });
    const failedShort = await waitFor(async () => {
      const j = await f.jobs.get('jt.slow', short.id);
      return j?.state === 'failed' ? j : null;
    });
    const failedMid = await waitFor(async () => {
      const j = await f.jobs.get('jt.slow', mid.id);
      return j?.state === 'failed' ? j : null;
    });
    expect(failedShort.failedReason).toBe('timed out after 400 ms');
    expect(failedMid.failedReason).toBe('timed out after 900 ms');
    const took = (j: typeof failedShort) => Date.parse(j.finishedAt!) - Date.parse(j.processedAt!);
    expect(took(failedShort)).toBeLessThan(1200);
    expect(took(failedMid)).toBeGreaterThanOrEqual(850);
    expect(took(failedMid)).toBeLessThan(1700);
    await waitFor(async () => (await f.jobs.get('jt.slow', long.id))?.state === 'completed');
    expect(track(t).signals.sort()).toEqual(['timed out after 400 ms', 'timed out after 900 ms']);
  });

  it('hands handlers a context that can be destructured, fails handlers that throw at once, and aborts a signal read late', async () => {
    const t = tag();
    const d = await f.jobs.enqueue('jt.context', { tag: t, mode: 'destructure' });
    const done = await waitFor(async () => {
      const j = await f.jobs.get('default', d.id);
      return j?.state === 'completed' ? j : null;
    });
    expect(done.progress).toBe(42);
    expect(track(t).order).toEqual(['jt.context#1/1', 'false']);
    expect(track(t).config[0]).toEqual({ JT_SETTING: 'from-plugin' });

    const s = await f.jobs.enqueue('jt.context', { tag: t, mode: 'throw-sync' });
    const thrown = await waitFor(async () => {
      const j = await f.jobs.get('default', s.id);
      return j?.state === 'failed' ? j : null;
    });
    expect(thrown.failedReason).toBe('thrown before any await');

    const late = await f.jobs.enqueue('jt.context', { tag: t, mode: 'late-signal' }, { timeoutMs: 100 });
    const timedOut = await waitFor(async () => {
      const j = await f.jobs.get('default', late.id);
      return j?.state === 'failed' ? j : null;
    });
    expect(timedOut.failedReason).toBe('timed out after 100 ms');
    await waitFor(() => track(t).signals.length === 1);
    expect(track(t).signals).toEqual(['true: timed out after 100 ms']);
  });

  it('deduplicates by job id: 100 concurrent enqueues of one id make one job that runs once', async () => {
    const t = tag();
    const id = `dedup-${t}`;
    const results = await Promise.all(
      Array.from({ length: 100 }, () => jobsEnqueue({ name: 'jt.echo', data: { tag: t }, options: { jobId: id } }, ctx())),
    );
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([id]));
    await waitFor(async () => (await f.jobs.get('default', id))?.state === 'completed');
    await sleep(300);
    expect(track(t).runs).toBe(1);
    // Enqueued again while kept as completed: still the same single job.
    const again = await f.jobs.enqueue('jt.echo', { tag: t }, { jobId: id });
    expect(again.state).toBe('completed');
    await sleep(200);
    expect(track(t).runs).toBe(1);
  });

  it('runs higher priorities first', async () => {
    const t = tag();
    await jobsPauseQueue({ queue: 'jt.serial' }, ctx());
    for (const [label, priority] of [['low', 50], ['high', 1], ['mid', 10]] as const) {
      await f.jobs.enqueue('jt.serial', { tag: t, label }, { priority });
    }
    const paused = await jobsResumeQueue({ queue: 'jt.serial' }, ctx());
    expect(paused.paused).toBe(false);
    await waitFor(() => track(t).order.length === 3);
    expect(track(t).order).toEqual(['high', 'mid', 'low']);
  });

  it('delays jobs and promotes them on request', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.echo', { tag: t }, { delayMs: 60_000 });
    expect(job.state).toBe('delayed');
    await rejectsWith(jobsPromote({ queue: 'default', id: 'missing-job' }, ctx()), 'jobs/job-not-found', 404);
    const promoted = await jobsPromote({ queue: 'default', id: job.id }, ctx());
    expect(['waiting', 'active', 'completed']).toContain(promoted.state);
    await waitFor(() => track(t).runs === 1);
    await rejectsWith(jobsPromote({ queue: 'default', id: job.id }, ctx()), 'jobs/not-delayed', 409);
  });

  it('cancels a waiting job by removing it and a running one by aborting it, without retry', async () => {
    const t = tag();
    const waiting = await f.jobs.enqueue('jt.echo', { tag: t }, { delayMs: 60_000 });
    expect(await jobsCancel({ queue: 'default', id: waiting.id }, ctx())).toMatchObject({ previousState: 'delayed', outcome: 'removed' });
    expect(await f.jobs.get('default', waiting.id)).toBeNull();

    const running = await f.jobs.enqueue('jt.slow', { tag: t, ms: 300_000 }, { timeoutMs: 0, attempts: 3 });
    await waitFor(async () => (await f.jobs.get('jt.slow', running.id))?.state === 'active');
    const res = await jobsCancel({ queue: 'jt.slow', id: running.id, reason: 'operator said so' }, ctx());
    expect(res).toMatchObject({ previousState: 'active', outcome: 'cancelled' });
    const j = await waitFor(async () => {
      const x = await f.jobs.get('jt.slow', running.id);
      return x?.state === 'failed' ? x : null;
    });
    expect(j.failedReason).toBe('cancelled: operator said so');
    expect(j.attemptsMade).toBe(1);
    await rejectsWith(jobsCancel({ queue: 'jt.slow', id: running.id }, ctx()), 'jobs/not-cancellable', 409);
  });

  it('retries a failed job on request and redrives one the queue has forgotten from the dead-letter history', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.fatal', { tag: t });
    await waitFor(async () => (await f.jobs.get('default', job.id))?.state === 'failed');
    await waitFor(async () => (await f.db.query(`SELECT 1 FROM jobs.dead_letter WHERE job_id = $1`, [job.id])).rowCount === 1);
    const retried = await jobsRetry({ queue: 'default', id: job.id }, ctx());
    expect(['waiting', 'active', 'failed']).toContain(retried.state);
    await waitFor(() => track(t).runs === 2);

    // Forget it in BullMQ, then redrive from jobs.dead_letter (a custom id is kept, BullMQ's numbers are not).
    await waitFor(async () => (await f.jobs.get('default', job.id))?.state === 'failed');
    await f.provider.queue('default').remove(job.id);
    await rejectsWith(jobsRetry({ queue: 'default', id: 'never-existed' }, ctx()), 'jobs/job-not-found', 404);
    const redriven = await jobsRetry({ queue: 'default', id: job.id }, ctx());
    expect(redriven.name).toBe('jt.fatal');
    expect(redriven.data).toEqual({ tag: t });
    await waitFor(() => track(t).runs === 3, 10_000, 'redriven run');
    const rows = await f.db.query(`SELECT redriven_at FROM jobs.dead_letter WHERE job_id = $1 ORDER BY failed_at`, [job.id]);
    expect(rows.rows[0]!.redriven_at).not.toBeNull();

    const custom = await f.jobs.enqueue('jt.fatal', { tag: t }, { jobId: `custom-${t}` });
    await waitFor(async () => (await f.db.query(`SELECT 1 FROM jobs.dead_letter WHERE job_id = $1`, [custom.id])).rowCount === 1, 5000, 'custom dead letter');
    await f.provider.queue('default').remove(custom.id);
    const rc = await jobsRetry({ queue: 'default', id: custom.id }, ctx());
    expect(rc.id).toBe(`custom-${t}`);
    // Its first run was the 4th, the redrive the 5th.
    await waitFor(() => track(t).runs === 5, 10_000, 'custom redriven run');

    const completed = await f.jobs.enqueue('jt.echo', { tag: t }, { delayMs: 60_000 });
    await rejectsWith(jobsRetry({ queue: 'default', id: completed.id }, ctx()), 'jobs/not-retryable', 409);
    await f.jobs.cancel('default', completed.id);
  });

  it('keeps the failed set within JOBS_FAILED_MAX_COUNT (no unbounded growth)', async () => {
    const t = tag();
    for (let i = 0; i < 6; i++) await f.jobs.enqueue('jt.fatal', { tag: t });
    await waitFor(() => track(t).runs === 6);
    await sleep(300);
    // Redis trims at every failure; PostgreSQL in the maintenance clean (count trimming per job halves its throughput).
    if (backend === 'postgres') await f.jobs.cleanFinished();
    const [s] = await f.jobs.stats('default');
    expect(s!.failed).toBeLessThanOrEqual(3);
    expect(s!.failed).toBeGreaterThan(0);
    // The durable history keeps all of them.
    const rows = await f.db.query(`SELECT count(*)::int AS n FROM jobs.dead_letter WHERE data->>'tag' = $1`, [t]);
    expect(rows.rows[0]!.n).toBe(6);
  });

  it('applies a queue rate limit across the queue', async () => {
    const t = tag();
    const started = Date.now();
    for (let i = 0; i < 6; i++) await f.jobs.enqueue('jt.limited', { tag: t });
    await waitFor(() => track(t).runs === 6, 20_000);
    // 2 per second: the 6th cannot start before two full windows have passed.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('pauses, resumes, drains and counts', async () => {
    const t = tag();
    const p = await jobsPauseQueue({ queue: 'low-priority' }, ctx());
    expect(p).toMatchObject({ queue: 'low-priority', paused: true });
    const echoLow = { ...f.jobs.definition('jt.echo'), queue: 'low-priority' };
    for (let i = 0; i < 3; i++) await f.provider.queue('low-priority').add(echoLow.name, { tag: t });
    await f.provider.queue('low-priority').add(echoLow.name, { tag: t }, { delay: 60_000 });
    const stats = await jobsStats({ queue: 'low-priority' }, ctx());
    expect(stats).toEqual([expect.objectContaining({ queue: 'low-priority', paused: true, waiting: 3, delayed: 1 })]);
    const all = await jobsStats({}, ctx());
    expect(all.map((s) => s.queue)).toEqual(f.jobs.registry.queues());
    await rejectsWith(jobsDrainQueue({ queue: 'missing' }, ctx()), 'jobs/unknown-queue', 404);
    expect(await jobsDrainQueue({ queue: 'low-priority' }, ctx())).toEqual({ queue: 'low-priority', removed: 3 });
    expect(await jobsDrainQueue({ queue: 'low-priority', delayed: true }, ctx())).toEqual({ queue: 'low-priority', removed: 1 });
    await jobsResumeQueue({ queue: 'low-priority' }, ctx());
    expect(track(t).runs).toBe(0);
  });

  it('lists jobs by state with a cursor', async () => {
    const t = tag();
    for (let i = 0; i < 5; i++) await f.jobs.enqueue('jt.echo', { tag: t, label: `l${i}` }, { delayMs: 120_000, jobId: `list-${t}-${i}` });
    const seenIds: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof f.jobs.list>> = await jobsList({ queue: 'default', state: 'delayed', limit: 2, cursor }, ctx());
      seenIds.push(...page.items.map((j) => j.id));
      expect(page.items.every((j) => j.state === 'delayed')).toBe(true);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seenIds.filter((id) => id.startsWith(`list-${t}`)).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `list-${t}-${i}`));
    await f.jobs.drain('default', true);
  });

  it('schedules with a cron expression in a time zone, and refuses bad cron, bad zones and unknown jobs', async () => {
    const s = await jobsSchedule({ name: 'jt.echo', cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', data: { tag: 'sched' }, id: 'weekday-echo' }, ctx());
    expect(s).toMatchObject({ id: 'weekday-echo', name: 'jt.echo', queue: 'default', cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', data: { tag: 'sched' }, fromCode: false });
    // 09:00 in Berlin is 07:00 or 08:00 UTC depending on DST.
    const next = new Date(s.nextRunAt!);
    expect([7, 8]).toContain(next.getUTCHours());
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect((await jobsSchedules({}, ctx())).map((x) => x.id)).toContain('weekday-echo');

    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: 'every day', data: { tag: 'x' } }, ctx()), 'jobs/invalid-cron', 400);
    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: '61 * * * *', data: { tag: 'x' } }, ctx()), 'jobs/invalid-cron', 400);
    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: '0 9 * * *', timezone: 'Mars/Olympus', data: { tag: 'x' } }, ctx()), 'jobs/invalid-timezone', 400);
    await rejectsWith(jobsSchedule({ name: 'nope', cron: '0 9 * * *' }, ctx()), 'jobs/unknown-job', 404);
    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: '0 9 * * *', data: { tag: 1 } }, ctx()), 'jobs/invalid-data', 400);
    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: '0 9 * * *', data: { tag: 'x' }, id: 'a:b' }, ctx()), 'jobs/invalid-input', 400);

    expect(await jobsUnschedule({ id: 'weekday-echo' }, ctx())).toEqual({ id: 'weekday-echo', removed: true });
    await rejectsWith(jobsUnschedule({ id: 'weekday-echo' }, ctx()), 'jobs/schedule-not-found', 404);
  });

  it('runs a fast schedule', async () => {
    const t = tag();
    await f.jobs.schedule({ name: 'jt.echo', cron: '* * * * * *', timezone: 'Asia/Tokyo', data: { tag: t }, id: `every-second-${t}` });
    await waitFor(() => track(t).runs >= 2, 10_000);
    await f.jobs.unschedule(`every-second-${t}`);
  });

  it('removes finished jobs past their age in the maintenance clean', async () => {
    const t = tag();
    const job = await f.jobs.enqueue('jt.echo', { tag: t });
    await waitFor(async () => (await f.jobs.get('default', job.id))?.state === 'completed');
    // A service with a 1-second retention on the same queues.
    const { JobsService } = await import('../lib/service.js');
    const strict = new JobsService({
      provider: f.provider,
      db: f.db,
      log: f.actionCtx().log,
      core: f.core,
      config: { ...f.config, JOBS_COMPLETED_MAX_AGE_SECONDS: 1 },
      registry: f.jobs.registry,
    });
    await sleep(1100);
    const cleaned = await strict.cleanFinished();
    expect(cleaned.find((c) => c.queue === 'default')!.completed).toBeGreaterThanOrEqual(1);
    expect(await f.jobs.get('default', job.id)).toBeNull();
  });
});
