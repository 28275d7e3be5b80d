import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createQueueProvider, DEFAULT_QUEUE_SCHEMA } from '../../src/core/queue.js';
import type { QueueProvider } from '../../src/core/queue-types.js';
import { createScratchDatabase, REDIS_URL, uniqueName, type ScratchDatabase } from '../support/db.js';

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
      for (const n of [name, `${name}-other`, `${name}-fail`]) await provider.queue(n).obliterate({ force: true });
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
