/**
 * What the queue backends cannot hold never reaches them: job ids that are BullMQ's own key names, text
 * PostgreSQL cannot store, data nested too deep or too large, runAt beyond the delay limit. Each is a 4xx
 * (or a typed error from `defineJob(...).enqueue`) that adds nothing, a bulk add is one add, and errors are
 * logged without the job's data — on both backends.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { QueueKeys } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { ActionError } from '../../../core/errors.js';
import { backendKeyNames, DEFAULT_QUEUE_SCHEMA, queueDamage } from '../../../core/queue.js';
import { BACKENDS, createFixture, waitFor, type Fixture } from './support/fixture.js';
import { echo, leaky, testPlugin, track } from './support/test-plugin.js';
import { jobsEnqueue } from '../../../../actions/jobs/jobs-enqueue.js';
import { jobsEnqueueBulk } from '../../../../actions/jobs/jobs-enqueue-bulk.js';
import { jobsSchedule } from '../../../../actions/jobs/jobs-schedule.js';
import { jobsGet } from '../../../../actions/jobs/jobs-get.js';
import { jobsCancel } from '../../../../actions/jobs/jobs-cancel.js';
import { JobDataError, JobOptionsError, MAX_DELAY_MS } from '../lib/enqueue.js';
import { MAX_DATA_DEPTH } from '../lib/storable.js';
import { QueueAddError } from '../lib/errors.js';

const REDIS_DB = 2;

async function rejectsWith(p: Promise<unknown>, code: string, status = 400): Promise<ActionError> {
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

function nested(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

describe('the job ids reserved for the queue backend', () => {
  it("are read from BullMQ: its key list and the keys its scripts build (dedup, metrics, …)", () => {
    const names = backendKeyNames();
    for (const k of Object.keys(new QueueKeys().getKeys('q')).filter(Boolean)) expect(names).toContain(k);
    // Built by BullMQ's Lua scripts and classes beside that list.
    for (const k of ['metrics', 'dn', 'de', 'repeat']) expect(names).toContain(k);
    expect(names).not.toContain('');
  });
});

describe.each(BACKENDS)('what the queue backend cannot hold, on %s', (backend) => {
  let f: Fixture;
  const lines: string[] = [];
  const ctx = () => f.actionCtx();

  /** Every job in every queue, in any state: a refused call must leave this unchanged. */
  const total = async () =>
    (await f.jobs.stats()).reduce((n, s) => n + s.waiting + s.delayed + s.prioritized + s.active + s.completed + s.failed, 0);

  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    // No workers: jobs stay where they were put.
    f = await createFixture(backend, REDIS_DB, { plugins: [testPlugin], log, env: { JOBS_MAX_DATA_BYTES: '4096' } });
  });
  afterAll(async () => {
    await f?.close();
  });

  it("refuses every one of BullMQ's key names as a job id, from GraphQL and from code, and the queue stays sound", async () => {
    const before = await total();
    for (const id of backendKeyNames()) {
      const e = await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { jobId: id } }, ctx()), 'jobs/invalid-job-id');
      expect(e.message).toMatch(/reserved/);
      const bulk = await rejectsWith(
        jobsEnqueueBulk({ jobs: [{ name: 'jt.echo', data: { tag: 'x' } }, { name: 'jt.serial', data: { tag: 'x', label: 'y' }, options: { jobId: id } }] }, ctx()),
        'jobs/invalid-job-id',
      );
      expect(bulk.extensions).toMatchObject({ index: 1 });
      await expect(echo.enqueue(ctx(), { tag: 'x' }, { jobId: id })).rejects.toBeInstanceOf(JobOptionsError);
    }
    expect(await total()).toBe(before);
    // A job id that merely contains one is fine.
    const ok = await jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { jobId: 'repeat-me' } }, ctx());
    expect(ok.id).toBe('repeat-me');
    for (const q of f.jobs.registry.queues()) expect(await queueDamage(f.provider.queue(q))).toEqual([]);
    expect(await f.jobs.schedules()).toEqual([]);
  });

  const badData: [string, () => unknown, RegExp][] = [
    ['U+0000 in a string', () => ({ tag: 'a\u0000b' }), /tag: text contains the character U\+0000/],
    ['a lone high surrogate', () => ({ tag: 'x\ud800' }), /tag: text contains a lone UTF-16 surrogate/],
    ['a lone low surrogate', () => ({ tag: '\udc00x' }), /lone UTF-16 surrogate/],
    ['U+0000 in a key', () => ({ tag: 'x', ['k\u0000']: 1 }), /key contains the character U\+0000/],
    ['a lone surrogate deep inside', () => ({ tag: 'x', list: [{ a: ['\udfff'] }] }), /list\.0\.a\.0: text contains a lone/],
    ['nesting deeper than the limit', () => ({ tag: 'x', deep: nested(MAX_DATA_DEPTH + 1) }), /nested deeper than 64 levels/],
    ['nesting of ten thousand levels', () => ({ tag: 'x', deep: nested(10_000) }), /nested deeper/],
    ['data larger than JOBS_MAX_DATA_BYTES', () => ({ tag: 'x'.repeat(5000) }), /more than the 4096 allowed/],
  ];

  it.each(badData)('refuses %s with a 400 naming the place, in single and bulk enqueues and schedules, adding nothing', async (_what, data, message) => {
    const before = await total();
    const one = await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: data() }, ctx()), 'jobs/invalid-data');
    expect(one.message).toMatch(message);
    // Valid items before and after it, on two queues: none of them is added.
    const bulk = await rejectsWith(
      jobsEnqueueBulk(
        {
          jobs: [
            { name: 'jt.echo', data: { tag: 'fine' } },
            { name: 'jt.serial', data: { tag: 'fine', label: 'a' } },
            { name: 'jt.echo', data: data() },
            { name: 'jt.serial', data: { tag: 'fine', label: 'b' } },
          ],
        },
        ctx(),
      ),
      'jobs/invalid-data',
    );
    expect(bulk.message).toMatch(/^jobs\[2\]: /);
    expect(bulk.extensions).toMatchObject({ index: 2 });
    await rejectsWith(jobsSchedule({ name: 'jt.echo', cron: '0 0 * * *', data: data() }, ctx()), 'jobs/invalid-data');
    const fromCode = await echo.enqueue(ctx(), data() as never).then(
      () => null,
      (e: unknown) => e,
    );
    expect(fromCode).toBeInstanceOf(JobDataError);
    expect((fromCode as JobDataError).message).toMatch(message);
    expect(await total()).toBe(before);
    expect(await f.jobs.schedules()).toEqual([]);
  });

  it('refuses from code what JSON would change or cannot write (NaN, Infinity, Dates, BigInt, cycles), with a typed error', async () => {
    const cyclic: Record<string, unknown> = { tag: 'x' };
    cyclic.self = cyclic;
    const cases: [unknown, RegExp][] = [
      [{ tag: 'x', n: Number.NaN }, /n: NaN is not a JSON number/],
      [{ tag: 'x', n: Infinity }, /Infinity is not a JSON number/],
      [{ tag: 'x', at: new Date() }, /at: is a Date object/],
      [{ tag: 'x', big: 10n }, /big: is a bigint/],
      [{ tag: 'x', list: [1, undefined] }, /list\.1: is undefined/],
      [cyclic, /self: refers to itself/],
    ];
    const before = await total();
    for (const [data, message] of cases) {
      const e = await echo.enqueue(ctx(), data as never).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(JobDataError);
      expect((e as Error).message).toMatch(message);
    }
    expect(await total()).toBe(before);
  });

  it('stores valid text unchanged: pairs of surrogates (emoji), other scripts, escapes', async () => {
    const label = '💥 Grüße — 日本語 \\u0000 "quoted" \u2028';
    const job = await jobsEnqueue({ name: 'jt.echo', data: { tag: 'ok', label } }, ctx());
    const stored = await jobsGet({ queue: 'default', id: job.id }, ctx());
    expect(stored?.data).toEqual({ tag: 'ok', label });
  });

  it('answers ids no backend can hold as unknown (not a 500) and refuses them as input', async () => {
    expect(await f.jobs.get('default', 'a\u0000b')).toBeNull();
    expect(await f.jobs.get('default', '\ud800')).toBeNull();
    await rejectsWith(jobsGet({ queue: 'default', id: 'a\u0000b' }, ctx()), 'jobs/invalid-input');
    await rejectsWith(jobsCancel({ queue: 'default', id: 'x', reason: 'because\u0000' }, ctx()), 'jobs/invalid-input');
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { dedupKey: 'k\ud800' } }, ctx()), 'jobs/invalid-input');
    await expect(echo.enqueue(ctx(), { tag: 'x' }, { dedup: { key: 'k\u0000' } })).rejects.toBeInstanceOf(JobOptionsError);
  });

  it('applies the delay limit to runAt as to delayMs', async () => {
    const before = await total();
    const far = new Date(Date.now() + MAX_DELAY_MS + 86_400_000).toISOString();
    const e = await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { runAt: far } }, ctx()), 'jobs/invalid-input');
    expect(e.message).toMatch(/runAt must be at most 365 days ahead/);
    await rejectsWith(jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { delayMs: MAX_DELAY_MS + 1 } }, ctx()), 'jobs/invalid-input');
    await rejectsWith(jobsEnqueueBulk({ jobs: [{ name: 'jt.echo', data: { tag: 'x' }, options: { runAt: '9999-12-31T00:00:00Z' } }] }, ctx()), 'jobs/invalid-input');
    await expect(echo.enqueue(ctx(), { tag: 'x' }, { runAt: new Date('9999-12-31T00:00:00Z') })).rejects.toThrow(/runAt is more than 365 days ahead/);
    await expect(echo.enqueue(ctx(), { tag: 'x' }, { delayMs: MAX_DELAY_MS + 1 })).rejects.toBeInstanceOf(JobOptionsError);
    expect(await total()).toBe(before);
    const within = await jobsEnqueue({ name: 'jt.echo', data: { tag: 'x' }, options: { runAt: new Date(Date.now() + MAX_DELAY_MS - 60_000).toISOString() } }, ctx());
    expect(within.state).toBe('delayed');
    expect(within.delayMs).toBeGreaterThan(MAX_DELAY_MS - 120_000);
  });

  it('keeps job ids and dedup keys meaning what they mean when a bulk spans queues', async () => {
    const before = await total();
    const id = `bulk-${randomUUID()}`;
    const key = `key-${randomUUID()}`;
    const jobs = await jobsEnqueueBulk(
      {
        jobs: [
          { name: 'jt.echo', data: { tag: 'a' }, options: { jobId: id } },
          { name: 'jt.serial', data: { tag: 'b', label: 'first' }, options: { dedupKey: key } },
          { name: 'jt.echo', data: { tag: 'c' }, options: { jobId: id } },
          { name: 'jt.serial', data: { tag: 'd', label: 'second' }, options: { dedupKey: key } },
        ],
      },
      ctx(),
    );
    expect(jobs.map((j) => j.queue)).toEqual(['default', 'jt.serial', 'default', 'jt.serial']);
    // The second of each answers with the job that was kept.
    expect(jobs[0]!.id).toBe(id);
    expect(jobs[2]).toMatchObject({ id, data: { tag: 'a' } });
    expect(jobs[3]).toMatchObject({ id: jobs[1]!.id, data: { tag: 'b', label: 'first' } });
    expect(await total()).toBe(before + 2);
  });

  it('logs a failing job by id, name, queue and attempt, without its data', async () => {
    const tag = randomUUID();
    const secret = `s3cret-${randomUUID()}`;
    await f.jobs.startWorkers(['default']);
    try {
      const job = await f.jobs.enqueue('jt.leaky', { tag, secret });
      await waitFor(async () => (await f.jobs.get('default', job.id))?.state === 'failed');
      await waitFor(() => lines.some((l) => l.includes('job failed for good') && l.includes(job.id)));
      const mine = lines.filter((l) => l.includes(job.id));
      expect(mine.length).toBeGreaterThanOrEqual(3);
      expect(lines.join('\n')).not.toContain(secret);
      const attempts = mine.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'job attempt failed');
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
      for (const a of attempts) {
        expect(a).toMatchObject({ queue: 'default', jobId: job.id, job: 'jt.leaky', error: { type: 'Error', message: 'upstream answered 502' } });
      }
      const final = JSON.parse(mine.find((l) => l.includes('job failed for good'))!) as Record<string, unknown>;
      expect(final).toMatchObject({ queue: 'default', jobId: job.id, job: 'jt.leaky', attempts: 2, error: { type: 'Error', message: 'upstream answered 502' } });
      // The data itself is kept where it is access-controlled: the dead-letter table.
      const dl = await f.db.query<{ data: { secret: string } }>('SELECT data FROM jobs.dead_letter WHERE job_id = $1', [job.id]);
      expect(dl.rows[0]?.data.secret).toBe(secret);
      expect(track(tag).runs).toBe(2);
    } finally {
      await f.jobs.stopWorkers(5000);
    }
    void leaky;
  });

  it('turns a failure of the backend itself into an error that carries no job data, and adds nothing of a bulk', async () => {
    const secret = `s3cret-${randomUUID()}`;
    // Breaks adds to jt.serial only: on Redis its event stream becomes a hash (every add then fails with
    // WRONGTYPE, and ioredis puts the command with the job data on the error); on PostgreSQL a trigger
    // refuses its rows.
    const redis = f.redisUrl ? new Redis(f.redisUrl) : null;
    const breakIt = async () => {
      // (In place of the stream earlier adds left there.)
      if (redis) await redis.multi().del('bull:jt.serial:events').hset('bull:jt.serial:events', 'broken', '1').exec();
      else {
        await f.db.query(`CREATE FUNCTION ${DEFAULT_QUEUE_SCHEMA}.refuse_serial() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.queue = 'jt.serial' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
        await f.db.query(`CREATE TRIGGER refuse_serial BEFORE INSERT ON ${DEFAULT_QUEUE_SCHEMA}.job FOR EACH ROW EXECUTE FUNCTION ${DEFAULT_QUEUE_SCHEMA}.refuse_serial()`);
      }
    };
    const repair = async () => {
      if (redis) await redis.del('bull:jt.serial:events');
      else await f.db.query(`DROP TRIGGER refuse_serial ON ${DEFAULT_QUEUE_SCHEMA}.job; DROP FUNCTION ${DEFAULT_QUEUE_SCHEMA}.refuse_serial()`);
    };
    const before = await total();
    await breakIt();
    try {
      const single = await jobsEnqueue({ name: 'jt.serial', data: { tag: secret, label: secret } }, ctx()).then(
        () => null,
        (e: unknown) => e,
      );
      expect(single).toBeInstanceOf(QueueAddError);
      expect(JSON.stringify(pino.stdSerializers.err(single as Error))).not.toContain(secret);
      const bulk = await jobsEnqueueBulk(
        { jobs: [{ name: 'jt.echo', data: { tag: 'fine' } }, { name: 'jt.serial', data: { tag: secret, label: secret } }] },
        ctx(),
      ).then(
        () => null,
        (e: unknown) => e,
      );
      expect(bulk).toBeInstanceOf(QueueAddError);
      expect(JSON.stringify(pino.stdSerializers.err(bulk as Error))).not.toContain(secret);
    } finally {
      await repair();
      redis?.disconnect();
    }
    // PostgreSQL adds the bulk in one statement: the valid jt.echo item went nowhere either.
    if (backend === 'postgres') expect(await total()).toBe(before);
  });
});
