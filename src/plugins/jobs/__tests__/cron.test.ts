/**
 * Cron validation and BullMQ's scheduler agree: one cron-parser in the install, and for edge expressions
 * (last day, nth weekday, step ranges, seconds, nicknames, dates that never come) what `cronProblem`
 * accepts is exactly what BullMQ's scheduler schedules, with the same next run — on both backends.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
import { BACKENDS, createFixture, type Fixture } from './support/fixture.js';
import { testPlugin } from './support/test-plugin.js';
import { cronProblem, nextRun } from '../lib/cron.js';
import { jobsSchedule } from '../../../../actions/jobs/jobs-schedule.js';

const EDGE = [
  '*/5 * * * *',
  '0 0 L * *',
  '0 0 LW * *',
  '0 0 15W * *',
  '0 12 * * 5#3',
  '0 12 * * 1L',
  '0 0 * * 7',
  '0 0 * * MON-FRI',
  '0 0 ? * SUN',
  '0 0 1-31/2 * *',
  '*/15 * * * * *',
  '0 0 29 2 *',
  '@weekly',
  '@yearly',
  // Never come, or do not parse: BullMQ would drop or refuse these.
  '0 0 30 2 *',
  '0 0 31 4 *',
  '60 * * * *',
  '0 24 * * *',
  '0 0 * * 8',
  // A hashed minute: cron-parser picks it at random on every parse, so only validity is compared.
  'H * * * *',
  '0 0 L-40 * *',
  '@fortnightly',
];

describe('one cron-parser', () => {
  it("is the copy BullMQ's scheduler loads", () => {
    const ours = realpathSync(createRequire(import.meta.url).resolve('cron-parser'));
    const bullmqRequire = createRequire(createRequire(import.meta.url).resolve('bullmq'));
    expect(realpathSync(bullmqRequire.resolve('cron-parser'))).toBe(ours);
  });
});

describe.each(BACKENDS)('cron validation against BullMQ on %s', (backend) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await createFixture(backend, 1, { plugins: [testPlugin] });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('accepts exactly what the scheduler schedules, with the same next run', async () => {
    const q = f.provider.queue('default');
    const verdicts: [string, boolean, boolean][] = [];
    for (const [i, expr] of EDGE.entries()) {
      const ours = cronProblem(expr, 'Europe/Berlin') === null;
      const id = `edge-${i}`;
      // Straight to BullMQ, past every check of ours.
      const added = await q.upsertJobScheduler(id, { pattern: expr, tz: 'Europe/Berlin' }, { name: 'jt.echo', data: { tag: 'cron' } }).then(
        (job) => !!job,
        () => false,
      );
      const scheduler = await q.getJobScheduler(id);
      const theirs = added && !!scheduler?.next;
      verdicts.push([expr, ours, theirs]);
      if (ours && theirs && !expr.includes('H')) {
        // The run BullMQ planned is the one nextRun finds just before it.
        expect(nextRun(expr, 'Europe/Berlin', new Date(scheduler!.next! - 1)).getTime()).toBe(scheduler!.next);
      }
      await q.removeJobScheduler(id);
    }
    expect(verdicts.filter(([, ours, theirs]) => ours !== theirs)).toEqual([]);
    // Both kinds are present, so the agreement means something.
    expect(verdicts.filter(([, ours]) => ours).length).toBeGreaterThanOrEqual(10);
    expect(verdicts.filter(([, ours]) => !ours).length).toBeGreaterThanOrEqual(5);
  });

  it('answers a date that never comes with a 400 instead of a schedule BullMQ would drop', async () => {
    await expect(jobsSchedule({ name: 'jt.echo', cron: '0 0 30 2 *', data: { tag: 'x' } }, f.actionCtx())).rejects.toMatchObject({
      code: 'jobs/invalid-cron',
      status: 400,
      message: expect.stringMatching(/^invalid cron expression "0 0 30 2 \*"/),
    });
    expect(await f.jobs.schedules()).toEqual([]);
  });
});
