/**
 * Property test: whatever JSON reaches the jobs actions (wrong types, missing fields, huge strings, unicode,
 * prototype-pollution keys, text PostgreSQL cannot store, BullMQ's own key names as ids, deep nesting), the answer is a 4xx ActionError with a message or a valid result — never
 * another error — and nothing is enqueued or scheduled by a rejected call.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ActionError } from '../../../core/errors.js';
import { BACKENDS, createFixture, type Fixture } from './support/fixture.js';
import { testPlugin } from './support/test-plugin.js';
import { jobsEnqueue } from '../../../../actions/jobs/jobs-enqueue.js';
import { jobsEnqueueBulk } from '../../../../actions/jobs/jobs-enqueue-bulk.js';
import { jobsSchedule } from '../../../../actions/jobs/jobs-schedule.js';
import { jobsList } from '../../../../actions/jobs/jobs-list.js';
import { jobsCancel } from '../../../../actions/jobs/jobs-cancel.js';
import { jobsGet } from '../../../../actions/jobs/jobs-get.js';
import { jobsRetry } from '../../../../actions/jobs/jobs-retry.js';
import type { ActionHandler } from '../../../core/plugin.js';

const nasty = fc.oneof(
  fc.jsonValue(),
  fc.string({ maxLength: 5000 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '💥', 'a:b', '123', '', ' '),
  // Text PostgreSQL cannot store, and job ids that are BullMQ's own key names.
  fc.constantFrom('a\u0000b', '\ud800', 'x\udfff', 'repeat', 'delayed', 'wait', 'meta', 'events', 'de', 'metrics', '9999-12-31T00:00:00Z'),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 1, max: 2000 }).map((depth) => {
    let v: unknown = { tag: 'deep' };
    for (let i = 0; i < depth; i++) v = { v };
    return v;
  }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'tag', 'name', 'label', 'jobId', 'priority'), fc.jsonValue(), { maxKeys: 4 }),
);

const inputs = fc.record(
  {
    name: fc.oneof(fc.constantFrom('jt.echo', 'jt.serial', 'nope', '__proto__'), nasty),
    data: nasty,
    options: fc.oneof(nasty, fc.record({ jobId: nasty, priority: nasty, delayMs: nasty, runAt: nasty, attempts: nasty, dedupKey: nasty }, { requiredKeys: [] })),
    reason: nasty,
    queue: fc.oneof(fc.constantFrom('default', 'jt.slow'), nasty),
    state: fc.oneof(fc.constantFrom('failed', 'waiting'), nasty),
    cursor: nasty,
    limit: nasty,
    id: nasty,
    cron: fc.oneof(fc.constantFrom('0 0 * * *', '* * * * * * *', '@daily', '60 * * * *'), nasty),
    timezone: fc.oneof(fc.constantFrom('UTC', 'Europe/Berlin', 'Nowhere/Else'), nasty),
    jobs: fc.oneof(
      nasty,
      fc.array(fc.record({ name: fc.oneof(fc.constantFrom('jt.echo', 'jt.serial'), nasty), data: fc.oneof(fc.record({ tag: nasty, label: nasty }), nasty), options: fc.oneof(nasty, fc.record({ jobId: nasty, runAt: nasty }, { requiredKeys: [] })) }, { requiredKeys: ['name'] }), { maxLength: 4 }),
    ),
  },
  { requiredKeys: [] },
);

describe.each(BACKENDS)('jobs actions under random input on %s', (backend) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await createFixture(backend, 8, { plugins: [testPlugin] });
    await f.jobs.pause('default');
    await f.jobs.pause('jt.serial');
  });
  afterAll(async () => {
    await f?.close();
  });

  it('answers 4xx or a result, never anything else, and a rejected call changes nothing', async () => {
    const handlers: [string, ActionHandler][] = [
      ['jobsEnqueue', jobsEnqueue],
      ['jobsEnqueueBulk', jobsEnqueueBulk],
      ['jobsSchedule', jobsSchedule],
      ['jobsList', jobsList],
      ['jobsCancel', jobsCancel],
      ['jobsGet', jobsGet],
      ['jobsRetry', jobsRetry],
    ];
    const total = async () => {
      const stats = await f.jobs.stats();
      return stats.reduce((n, s) => n + s.waiting + s.delayed + s.prioritized + s.active, 0) + (await f.jobs.schedules()).length;
    };
    await fc.assert(
      fc.asyncProperty(inputs, fc.integer({ min: 0, max: handlers.length - 1 }), async (input, which) => {
        const [, handler] = handlers[which]!;
        const before = await total();
        let ok = false;
        try {
          await handler(input, f.actionCtx());
          ok = true;
        } catch (e) {
          expect(e).toBeInstanceOf(ActionError);
          const err = e as ActionError;
          expect(err.status).toBeGreaterThanOrEqual(400);
          expect(err.status).toBeLessThan(500);
          expect(err.message.length).toBeGreaterThan(0);
        }
        if (!ok) expect(await total()).toBe(before);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
