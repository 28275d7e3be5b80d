/** Graceful shutdown: workers stop taking jobs but let the running ones finish (within the shutdown timeout). */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { BACKENDS, createFixture, waitFor, type Fixture } from './support/fixture.js';
import { testPlugin, track } from './support/test-plugin.js';

describe.each(BACKENDS)('graceful shutdown on %s', (backend) => {
  let f: Fixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('waits for running jobs to complete and starts no new ones', async () => {
    f = await createFixture(backend, 9, { plugins: [testPlugin] });
    await f.jobs.startWorkers(['jt.slow']);
    const t = randomUUID();
    const running = await f.jobs.enqueue('jt.slow', { tag: t, ms: 1500 }, { timeoutMs: 0 });
    // Running, not only claimed: a job claimed but not started when the stop begins goes back to the queue.
    await waitFor(async () => track(t).runs === 1 && (await f!.jobs.get('jt.slow', running.id))?.state === 'active');
    const stopped = f.jobs.stopWorkers(20_000);
    // Enqueued after the stop began: must stay waiting.
    const later = await f.jobs.enqueue('jt.slow', { tag: t, ms: 10 }, { timeoutMs: 0 });
    const t0 = Date.now();
    await stopped;
    expect(Date.now() - t0).toBeGreaterThan(500);
    expect((await f.jobs.get('jt.slow', running.id))?.state).toBe('completed');
    expect((await f.jobs.get('jt.slow', later.id))?.state).toBe('waiting');
    expect(track(t).runs).toBe(1);
    expect(track(t).signals).toEqual([]);
  });

  it('never starts a job enqueued after the stop began, round after round', async () => {
    // The race behind an intermittent failure of the test above: the stop wakes a worker blocked waiting
    // for work, which then claimed whatever had just been added. Repeated, so that a return shows.
    f = await createFixture(backend, 9, { plugins: [testPlugin] });
    const states: string[] = [];
    for (let round = 0; round < 12; round++) {
      await f.jobs.startWorkers(['jt.slow']);
      const t = randomUUID();
      await f.jobs.enqueue('jt.slow', { tag: t, ms: 200 }, { timeoutMs: 0 });
      await waitFor(() => track(t).runs === 1);
      const stopped = f.jobs.stopWorkers(20_000);
      const later = await f.jobs.enqueue('jt.slow', { tag: t, ms: 10 }, { timeoutMs: 0 });
      await stopped;
      states.push(String((await f.jobs.get('jt.slow', later.id))?.state));
      expect(track(t).runs).toBe(1);
      await f.jobs.drain('jt.slow');
    }
    expect(states).toEqual(Array(12).fill('waiting'));
  }, 60_000);

  it('gives up waiting after the shutdown timeout, leaving the job for another worker', async () => {
    f = await createFixture(backend, 9, { plugins: [testPlugin] });
    await f.jobs.startWorkers(['jt.slow']);
    const t = randomUUID();
    const running = await f.jobs.enqueue('jt.slow', { tag: t, ms: 5000 }, { timeoutMs: 0 });
    await waitFor(async () => track(t).runs === 1 && (await f!.jobs.get('jt.slow', running.id))?.state === 'active');
    const t0 = Date.now();
    await f.jobs.stopWorkers(300);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await f.jobs.get('jt.slow', running.id))?.state).toBe('active');
  });
});
