/** A plugin contributing jobs that exercise every behaviour the tests check. */
import { z } from 'zod';
import { UnrecoverableError } from 'bullmq';
import { definePlugin } from '../../../../core/plugin.js';
import { defineJob } from '../../lib/define-job.js';
import { sleep } from './fixture.js';

/** What the handlers saw, per test run (keyed by a `tag` in the job data). */
export const seen = new Map<string, { runs: number; attempts: number[]; order: string[]; signals: string[]; config: unknown[] }>();
export function track(tag: string) {
  let s = seen.get(tag);
  if (!s) seen.set(tag, (s = { runs: 0, attempts: [], order: [], signals: [], config: [] }));
  return s;
}

export const echo = defineJob({
  name: 'jt.echo',
  data: z.object({ tag: z.string(), label: z.string().default('x'), progress: z.boolean().optional() }),
  async handler(data, ctx) {
    const s = track(data.tag);
    s.runs++;
    s.order.push(data.label);
    s.config.push(ctx.config);
    if (data.progress) await ctx.progress({ step: 1, of: 2 });
    return { echoed: data.label, attempt: ctx.job.attempt };
  },
});

export const flaky = defineJob({
  name: 'jt.flaky',
  data: z.object({ tag: z.string(), failTimes: z.number().int() }),
  attempts: 4,
  backoff: { type: 'exponential', delayMs: 50, jitter: 0.5 },
  async handler(data, ctx) {
    const s = track(data.tag);
    s.runs++;
    s.attempts.push(ctx.job.attempt);
    if (ctx.job.attempt <= data.failTimes) throw new Error(`flaky failure ${ctx.job.attempt}`);
    return 'ok';
  },
});

export const fatal = defineJob({
  name: 'jt.fatal',
  data: z.object({ tag: z.string() }),
  attempts: 5,
  backoff: 10,
  async handler(data) {
    track(data.tag).runs++;
    throw new UnrecoverableError('card declined for good');
  },
});

export const slow = defineJob({
  name: 'jt.slow',
  queue: 'jt.slow',
  data: z.object({ tag: z.string(), ms: z.number().int() }),
  attempts: 1,
  timeout: 400,
  concurrency: 5,
  async handler(data, ctx) {
    const s = track(data.tag);
    s.runs++;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, data.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        s.signals.push(String((ctx.signal.reason as Error)?.message));
        resolve();
      });
    });
    if (ctx.signal.aborted) return 'aborted';
    return 'done';
  },
});

export const limited = defineJob({
  name: 'jt.limited',
  queue: 'jt.limited',
  data: z.object({ tag: z.string() }),
  rateLimit: { max: 2, durationMs: 1000 },
  concurrency: 10,
  async handler(data) {
    const s = track(data.tag);
    s.runs++;
    s.order.push(String(Date.now()));
  },
});

export const serial = defineJob({
  name: 'jt.serial',
  queue: 'jt.serial',
  concurrency: 1,
  data: z.object({ tag: z.string(), label: z.string() }),
  async handler(data) {
    track(data.tag).order.push(data.label);
    await sleep(5);
  },
});

/** Uses the handler context the ways handlers may: destructured, read late, or failing before any await. */
export const context = defineJob({
  name: 'jt.context',
  data: z.object({ tag: z.string(), mode: z.enum(['destructure', 'throw-sync', 'late-signal']) }),
  attempts: 1,
  handler(data, ctx) {
    const s = track(data.tag);
    s.runs++;
    if (data.mode === 'throw-sync') throw new Error('thrown before any await');
    return (async () => {
      if (data.mode === 'destructure') {
        const { progress, job, log, signal, config } = ctx;
        await progress(42);
        log.debug('destructured');
        s.order.push(`${job.name}#${job.attempt}/${job.maxAttempts}`, String(signal.aborted));
        s.config.push(config);
        return 'ok';
      }
      // Ignores its timeout, then looks at the signal only after the attempt has already failed.
      await sleep(500);
      s.signals.push(`${ctx.signal.aborted}: ${(ctx.signal.reason as Error | undefined)?.message}`);
      return 'late';
    })();
  },
});

/** Fails the way an HTTP client does: its error carries the request, and so the job's data. */
export const leaky = defineJob({
  name: 'jt.leaky',
  data: z.object({ tag: z.string(), secret: z.string() }),
  attempts: 2,
  backoff: 10,
  async handler(data) {
    track(data.tag).runs++;
    throw Object.assign(new Error('upstream answered 502'), { request: { body: JSON.stringify(data) }, data });
  },
});

export const testPlugin = definePlugin({
  name: 'jt',
  version: '0.0.0',
  description: 'jobs test plugin',
  jobs: [echo, flaky, fatal, slow, limited, serial, context, leaky],
});
