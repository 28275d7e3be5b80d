import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createQueueProvider, DEFAULT_QUEUE_SCHEMA, QUEUE_APPLICATION_NAME, QUEUE_LISTEN_APPLICATION_NAME } from '../../src/core/queue.js';
import type { QueueProvider } from '../../src/core/queue-types.js';
import { ADMIN_DATABASE_URL, createScratchDatabase, REDIS_URL, uniqueName, type ScratchDatabase } from '../support/db.js';

describe.each(['postgres', 'redis'] as const)('queue provider on %s', (backend) => {
  let db: ScratchDatabase;
  let provider: QueueProvider;
  const name = uniqueName('q');

  beforeAll(async () => {
    db = await createScratchDatabase(`queue_${backend}`);
    provider = createQueueProvider({ databaseUrl: db.url, redisUrl: backend === 'redis' ? REDIS_URL : undefined });
  });

  afterAll(async () => {
    // Redis is shared by every test file: remove this file's keys.
    if (backend === 'redis') {
      for (const n of [name, `${name}-other`, `${name}-fail`, `${name}-stop`, `${name}-handback`, `${name}-bulk-a`, `${name}-bulk-b`]) await provider.queue(n).obliterate({ force: true });
    }
    await provider.close();
    await db.drop();
  });

  it('reports its backend and answers ping with a real round trip', async () => {
    expect(provider.backend).toBe(backend);
    await expect(provider.ping()).resolves.toBeUndefined();
  });

  it('shares one Queue per name', () => {
    expect(provider.queue(name)).toBe(provider.queue(name));
    expect(provider.queue(`${name}-other`)).not.toBe(provider.queue(name));
  });

  it('runs an added job through a worker and reports the result', async () => {
    const events = provider.events(name);
    await events.waitUntilReady();
    const seen: unknown[] = [];
    const worker = provider.worker<{ n: number }, { doubled: number }>(name, async (job) => {
      seen.push(job.data);
      return { doubled: job.data.n * 2 };
    });
    const job = await provider.queue(name).add('double', { n: 21 });
    await expect(job.waitUntilFinished(events, 30_000)).resolves.toEqual({ doubled: 42 });
    expect(seen).toEqual([{ n: 21 }]);
    const stored = await provider.queue(name).getJob(job.id!);
    expect(stored?.returnvalue).toEqual({ doubled: 42 });
    expect(await stored?.getState()).toBe('completed');
    // Closing early is allowed; close() of the provider must not trip over it later.
    await worker.close();
  });

  it('reports a failed job with its error', async () => {
    // Listening before the job exists: events only carry what happens after they start.
    const failedEvents = provider.events(`${name}-fail`);
    await failedEvents.waitUntilReady();
    provider.worker(`${name}-fail`, async () => {
      throw new Error('boom');
    });
    const job = await provider.queue(`${name}-fail`).add('explode', {}, { attempts: 1 });
    await expect(job.waitUntilFinished(failedEvents, 30_000)).rejects.toThrow('boom');
    expect(await job.getState()).toBe('failed');
  });

  it('claims no job once close() has begun, though one is waiting', async () => {
    // BullMQ checks `closing` before it blocks for work but not after: on PostgreSQL close() ends the
    // blocking wait as if a job had been announced and the worker went on to claim one. The provider's
    // workers refuse every claim from the moment close() is called.
    const qn = `${name}-stop`;
    const job = await provider.queue(qn).add('waiting', {});
    const worker = provider.worker(qn, async () => undefined, { autorun: false });
    await worker.waitUntilReady();
    const closed = worker.close();
    const claim = (worker as unknown as { moveToActive(token: string): Promise<unknown> }).moveToActive('after-close');
    await expect(claim).resolves.toBeUndefined();
    await closed;
    expect(await job.getState()).toBe('waiting');
    // A worker that is not closing claims it as usual.
    const other = provider.worker(qn, async () => undefined, { autorun: false });
    await other.waitUntilReady();
    const claimed = await (other as unknown as { moveToActive(token: string): Promise<{ id?: string } | undefined> }).moveToActive('open');
    expect(claimed?.id).toBe(job.id);
    await other.close();
  });

  it('hands back a job fetched together with the end of the previous one once the worker is stopping', async () => {
    // Finishing a job fetches the next in the same call; decided just before a stop, that job must not run.
    // Paused here rather than closed, which would also close the worker's connection at once (with a running
    // main loop, close() first waits for it, and the hand-back happens in that wait).
    const qn = `${name}-handback`;
    const first = await provider.queue(qn).add('first', {});
    const second = await provider.queue(qn).add('second', {});
    type Internals = { moveToActive(token: string): Promise<{ id?: string } | undefined>; nextJobFromJobData(data: unknown, id: string, token: string): Promise<unknown> };
    const worker = provider.worker(qn, async () => undefined, { autorun: false });
    await worker.waitUntilReady();
    const w = worker as unknown as Internals;
    expect((await w.moveToActive('tok'))?.id).toBe(first.id);
    await worker.pause(true);
    // What the finish of `first` would have brought: `second`, claimed under the worker's token.
    const otherClaim = provider.worker(qn, async () => undefined, { autorun: false });
    await otherClaim.waitUntilReady();
    const claimed = await (otherClaim as unknown as Internals).moveToActive('tok');
    expect(claimed?.id).toBe(second.id);
    const stored = (await provider.queue(qn).getJob(second.id!))!;
    await expect(w.nextJobFromJobData(stored.asJSON(), second.id!, 'tok')).resolves.toBeUndefined();
    expect(await stored.getState()).toBe('waiting');
    await worker.close();
    await otherClaim.close();
  });

  it('adds jobs to several queues in one call, in order, and rejects without adding when the backend refuses one', async () => {
    const jobs = await provider.addBulk([
      { queue: `${name}-bulk-a`, name: 'one', data: { n: 1 } },
      { queue: `${name}-bulk-b`, name: 'two', data: { n: 2 }, opts: { jobId: 'custom-two', delay: 60_000 } },
      { queue: `${name}-bulk-a`, name: 'three', data: { n: 3 }, opts: { priority: 5 } },
    ]);
    expect(jobs.map((j) => [j.queueName, j.name, j.data])).toEqual([
      [`${name}-bulk-a`, 'one', { n: 1 }],
      [`${name}-bulk-b`, 'two', { n: 2 }],
      [`${name}-bulk-a`, 'three', { n: 3 }],
    ]);
    expect(jobs[1]!.id).toBe('custom-two');
    expect(await provider.queue(`${name}-bulk-a`).getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 1, prioritized: 1 });
    expect(await (await provider.queue(`${name}-bulk-b`).getJob('custom-two'))?.getState()).toBe('delayed');
    // One queue alone goes through the same call.
    const single = await provider.addBulk([{ queue: `${name}-bulk-b`, name: 'four', data: {} }]);
    expect(single).toHaveLength(1);
    expect(await provider.addBulk([])).toEqual([]);
    // BullMQ's own refusal (an integer-looking custom id): nothing of the call is added on PostgreSQL,
    // where the add is one statement; Redis runs the rest of its MULTI.
    const before = await provider.queue(`${name}-bulk-a`).getJobCountByTypes('waiting');
    await expect(
      provider.addBulk([
        { queue: `${name}-bulk-a`, name: 'five', data: {} },
        { queue: `${name}-bulk-b`, name: 'six', data: {}, opts: { jobId: '42' } },
      ]),
    ).rejects.toThrow();
    if (backend === 'postgres') expect(await provider.queue(`${name}-bulk-a`).getJobCountByTypes('waiting')).toBe(before);
  });

  if (backend === 'postgres') {
    it(`keeps BullMQ's tables in the ${DEFAULT_QUEUE_SCHEMA} schema`, async () => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const { rows } = await c.query<{ n: string }>('select count(*) as n from pg_tables where schemaname = $1', [DEFAULT_QUEUE_SCHEMA]);
        expect(Number(rows[0]!.n)).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
    });
  }

});

describe('queue provider lifecycle', () => {
  let db: ScratchDatabase;
  beforeAll(async () => {
    db = await createScratchDatabase('queue_life');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('rejects use after close and closes idempotently', async () => {
    const p = createQueueProvider({ databaseUrl: db.url, schema: 'custom_jobs' });
    await p.ping();
    await p.queue(uniqueName('l')).add('x', {});
    await Promise.all([p.close(), p.close()]);
    expect(() => p.queue('again')).toThrow(/closed/);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: string }>("select count(*) as n from pg_tables where schemaname = 'custom_jobs'");
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await c.end();
    }
  });

  it('refuses an unsafe schema name', () => {
    expect(() => createQueueProvider({ databaseUrl: db.url, schema: 'x; drop table y' })).toThrow(/invalid queue schema/);
  });

  it('fails ping clearly when the database is unreachable', async () => {
    const p = createQueueProvider({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nope' });
    await expect(p.ping()).rejects.toThrow();
    await p.close();
  });

  it('fails ping within its timeout when Redis is unreachable, and still closes', async () => {
    const p = createQueueProvider({ databaseUrl: db.url, redisUrl: 'redis://127.0.0.1:1' });
    const t0 = Date.now();
    await expect(p.ping()).rejects.toThrow(/did not answer within/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await p.close();
  });
});

describe('queue provider on postgres: connections', () => {
  const POOL_MAX = 3;
  let db: ScratchDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    db = await createScratchDatabase('queue_conns');
    // Connected to another database, so it never counts itself.
    admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  /** Connections to the scratch database by application_name. */
  async function connections(): Promise<Map<string, number>> {
    const { rows } = await admin.query<{ name: string; n: string }>(
      "select coalesce(application_name, '') as name, count(*) as n from pg_stat_activity where datname = $1 group by 1",
      [db.name],
    );
    return new Map(rows.map((r) => [r.name, Number(r.n)]));
  }
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

  /** A queue with a worker and an event listener, and `jobs` jobs run through it. */
  async function busyQueue(p: QueueProvider, name: string, jobs: number): Promise<void> {
    const events = p.events(name);
    let done = 0;
    const worker = p.worker(name, async () => {
      done++;
    }, { concurrency: 10 });
    await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);
    await p.queue(name).addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'n', data: { i } })));
    const end = Date.now() + 30_000;
    while (done < jobs && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(jobs);
  }

  /** The backend closes a session shortly after its client leaves. */
  async function settled(pred: (m: Map<string, number>) => boolean): Promise<Map<string, number>> {
    let m = await connections();
    for (let i = 0; i < 100 && !pred(m); i++) {
      await new Promise((r) => setTimeout(r, 50));
      m = await connections();
    }
    return m;
  }

  it('shares one bounded pool and one LISTEN connection however many queues, workers and listeners; close() ends them all', async () => {
    expect(total(await connections())).toBe(0);
    const p = createQueueProvider({ databaseUrl: db.url, poolMax: POOL_MAX });
    try {
      const prefix = uniqueName('c');
      const names = Array.from({ length: 8 }, (_, i) => `${prefix}-${i}`);

      // Four queues busy at once, each with a worker and an event listener: enough to fill any pool.
      await Promise.all(names.slice(0, 4).map((n) => busyQueue(p, n, 40)));
      const four = await connections();
      expect(four.get(QUEUE_APPLICATION_NAME) ?? 0).toBeLessThanOrEqual(POOL_MAX);
      expect(four.get(QUEUE_LISTEN_APPLICATION_NAME)).toBe(1);
      expect(total(four)).toBeLessThanOrEqual(POOL_MAX + 1);

      // Twice the queues: nothing grows.
      await Promise.all(names.slice(4).map((n) => busyQueue(p, n, 40)));
      const eight = await connections();
      expect(eight.get(QUEUE_APPLICATION_NAME) ?? 0).toBeLessThanOrEqual(POOL_MAX);
      expect(eight.get(QUEUE_LISTEN_APPLICATION_NAME)).toBe(1);
      expect(total(eight)).toBeLessThanOrEqual(POOL_MAX + 1);

      // BullMQ still finds every worker and event listener by name, also those of another process.
      for (const n of names) {
        expect(await p.queue(n).getWorkersCount()).toBe(1);
        expect(await p.queue(n).getQueueEvents()).toHaveLength(1);
      }
      const other = createQueueProvider({ databaseUrl: db.url, poolMax: 1 });
      try {
        await other.worker(names[0]!, async () => undefined).waitUntilReady();
        expect(await p.queue(names[0]!).getWorkersCount()).toBe(2);
      } finally {
        await other.close();
      }
      expect(await p.queue(names[0]!).getWorkersCount()).toBe(1);
    } finally {
      await p.close();
    }
    expect(total(await settled((m) => total(m) === 0))).toBe(0);
  });

  it('holds one LISTEN connection and at most two pooled ones while its workers idle', async () => {
    const p = createQueueProvider({ databaseUrl: db.url, poolMax: 10 });
    try {
      const prefix = uniqueName('i');
      // Six workers sweeping for stalled jobs every second, all at the same moment: each sweep on a
      // connection of its own would keep six open.
      const workers = Array.from({ length: 6 }, (_, i) => p.worker(`${prefix}-${i}`, async () => undefined, { stalledInterval: 1000 }));
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      await p.queue(`${prefix}-0`).add('warm', {});
      // Past the pool's idle timeout, then watched for a while.
      await new Promise((r) => setTimeout(r, 3000));
      let most = 0;
      for (let i = 0; i < 40; i++) {
        const m = await connections();
        expect(m.get(QUEUE_LISTEN_APPLICATION_NAME)).toBe(1);
        most = Math.max(most, total(m));
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(most).toBeLessThanOrEqual(3);
    } finally {
      await p.close();
    }
    expect(total(await settled((m) => total(m) === 0))).toBe(0);
  });

  it('listens again on a new connection when the LISTEN connection drops, and still closes everything', async () => {
    const p = createQueueProvider({ databaseUrl: db.url, poolMax: 2 });
    try {
      const name = uniqueName('d');
      let done = 0;
      const worker = p.worker(name, async () => {
        done++;
      });
      await worker.waitUntilReady();
      const runOne = async () => {
        const before = done;
        await p.queue(name).add('n', {});
        const end = Date.now() + 20_000;
        while (done === before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        expect(done).toBe(before + 1);
      };
      await runOne();
      const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2', [db.name, QUEUE_LISTEN_APPLICATION_NAME]);
      expect(killed.rowCount).toBe(1);
      await runOne();
      expect((await settled((m) => m.get(QUEUE_LISTEN_APPLICATION_NAME) === 1)).get(QUEUE_LISTEN_APPLICATION_NAME)).toBe(1);
      // The worker's name moved to the new connection (registered there just after it listens again).
      let workers = await p.queue(name).getWorkersCount();
      for (let i = 0; i < 100 && workers !== 1; i++) {
        await new Promise((r) => setTimeout(r, 50));
        workers = await p.queue(name).getWorkersCount();
      }
      expect(workers).toBe(1);
    } finally {
      await p.close();
    }
    expect(total(await settled((m) => total(m) === 0))).toBe(0);
  });

  it('keeps BullMQ in its schema when the database URL carries its own options', async () => {
    const url = new URL(db.url);
    url.searchParams.set('options', '-c statement_timeout=60000');
    const p = createQueueProvider({ databaseUrl: url.toString(), schema: 'opts_jobs' });
    try {
      await p.ping();
      const q = p.queue(uniqueName('o'));
      await q.add('x', {});
      // BullMQ's SQL names its tables unqualified: without the search_path this fails.
      expect(await q.getJobCountByTypes('waiting')).toBe(1);
    } finally {
      await p.close();
    }
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: string }>("select count(*) as n from pg_tables where schemaname = 'opts_jobs' and tablename = 'job'");
      expect(Number(rows[0]!.n)).toBe(1);
    } finally {
      await c.end();
    }
  });

  it('refuses a pool size below one', () => {
    expect(() => createQueueProvider({ databaseUrl: db.url, poolMax: 0 })).toThrow(/invalid queue pool size/);
  });
});
