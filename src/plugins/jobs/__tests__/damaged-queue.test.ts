/**
 * A queue damaged before ids were checked (a job added with the id `repeat` or `delayed`, whose hash then
 * sits on BullMQ's own key on Redis): the real server still boots, reports the queue loudly with the way to
 * repair it, leaves it out, and serves every other queue; after the repair the queue works again. On
 * PostgreSQL the same ids harm nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import pg from 'pg';
import { runCli } from '../../../cli/main.js';
import { createRuntime, type ServerRuntime } from '../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../core/server.js';
import { SECRET_HEADER } from '../../../core/dispatch.js';
import { createQueueProvider } from '../../../core/queue.js';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/db.js';
import { jobsPlugin } from '../plugin.js';
import { BACKENDS, flushRedis, JOBS_MIGRATION, redisUrlFor, waitFor } from './support/fixture.js';
import { testPlugin, track } from './support/test-plugin.js';

const SECRET = 'damaged-queue-test-webhook-secret';
const REDIS_DB = 15;

describe.each(BACKENDS)('a queue holding jobs whose ids are BullMQ key names, on %s', (backend) => {
  let db: ScratchDatabase;
  const redisUrl = backend === 'redis' ? redisUrlFor(REDIS_DB) : undefined;
  const tag = randomUUID();

  /** The server as `nself-plugins serve` runs it, with its log captured. */
  async function boot(): Promise<{ runtime: ServerRuntime; server: NselfServer; url: string; lines: string[] }> {
    const lines: string[] = [];
    const runtime = await createRuntime(
      {
        DATABASE_URL: db.url,
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
        NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
        PLUGINS_ENABLED: 'jobs,jt',
        JOBS_DIR: join(tmpdir(), 'no-jobs-here'),
      },
      { plugins: [jobsPlugin, testPlugin], log: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }), defaultMetrics: false },
    );
    const base = runtime.pluginRuntime;
    if (!base('jobs').plugins) {
      (runtime as { pluginRuntime: ServerRuntime['pluginRuntime'] }).pluginRuntime = (name) => ({ ...base(name), plugins: runtime.plugins, pluginConfig: runtime.pluginConfig });
    }
    const server = createServer(runtime);
    const { url } = await server.listen(0, '127.0.0.1');
    return { runtime, server, url, lines };
  }

  async function action(url: string, name: string, input: Record<string, unknown>) {
    const r = await fetch(`${url}/actions/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SECRET_HEADER]: SECRET },
      body: JSON.stringify({ action: { name }, input, session_variables: { 'x-hasura-role': 'service' }, request_query: `mutation { ${name} { id } }` }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, any> };
  }
  const enqueue = (url: string, name: string, data: Record<string, unknown>) => action(url, 'jobsEnqueue', { name, data });

  beforeAll(async () => {
    db = await createScratchDatabase(`jobs_damage_${backend}`);
    if (redisUrl) await flushRedis(redisUrl);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query(readFileSync(join(JOBS_MIGRATION, 'up.sql'), 'utf8'));
    await c.end();
    // What an older release let through: BullMQ itself accepts these ids.
    const raw = createQueueProvider({ databaseUrl: db.url, redisUrl });
    try {
      for (const id of ['repeat', 'delayed']) await raw.queue('jt.serial').add('jt.serial', { tag, label: id }, { jobId: id });
    } finally {
      await raw.close();
    }
  });
  afterAll(async () => {
    if (redisUrl) await flushRedis(redisUrl);
    await db?.drop();
  });

  it('boots, reports the damaged queue with its repair, serves the other queues, and uses the queue again once repaired', async () => {
    const first = await boot();
    try {
      const ready = await fetch(`${first.url}/readyz`);
      expect(ready.status).toBe(200);
      const echo = await enqueue(first.url, 'jt.echo', { tag, label: 'other queue' });
      expect(echo.status).toBe(200);
      await waitFor(() => track(tag).order.includes('other queue'));

      const serial = await enqueue(first.url, 'jt.serial', { tag, label: 'damaged queue' });
      const damage = first.lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.level === 50 && l.queue === 'jt.serial');
      if (backend === 'redis') {
        expect(serial.status).toBe(409);
        expect(serial.body.extensions.code).toBe('jobs/queue-damaged');
        expect(serial.body.message).toMatch(/bull:jt\.serial:repeat/);
        expect(damage[0]).toMatchObject({ keys: ['bull:jt.serial:delayed', 'bull:jt.serial:repeat'] });
        expect(damage[0]!.msg).toMatch(/queue "jt.serial" is damaged .*run `nself-plugins job repair jt.serial`/);
        // Looking the ids up answers "no such job", not a read of the queue's own structures.
        const get = await action(first.url, 'jobsGet', { queue: 'jt.serial', id: 'wait' });
        expect(get.status).toBe(409);
      } else {
        // Jobs are rows keyed by (queue, id) there: the old jobs simply run.
        expect(serial.status).toBe(200);
        expect(damage).toEqual([]);
        await waitFor(() => ['repeat', 'delayed', 'damaged queue'].every((l) => track(tag).order.includes(l)));
      }
    } finally {
      await first.server.shutdown('test over');
    }
    if (backend === 'postgres') return;

    // The repair the log names, as an operator runs it.
    const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl!, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, PLUGINS_ENABLED: 'jobs', LOG_LEVEL: 'silent', JOBS_DIR: join(tmpdir(), 'no-jobs-here') };
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['job', 'repair', 'jt.serial'], { out: (l) => out.push(l), err: (l) => err.push(l), cwd: tmpdir(), env });
    expect({ code, err }).toEqual({ code: 0, err: [] });
    expect(out).toEqual(['jt.serial: moved "delayed", "repeat" to jobs.dead_letter']);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ job_id: string; data: unknown }>("SELECT job_id, data FROM jobs.dead_letter WHERE queue = 'jt.serial' ORDER BY job_id");
    await c.end();
    expect(rows).toEqual([
      { job_id: 'delayed', data: { tag, label: 'delayed' } },
      { job_id: 'repeat', data: { tag, label: 'repeat' } },
    ]);
    const redis = new Redis(redisUrl!);
    expect(await redis.lrange('bull:jt.serial:wait', 0, -1)).toEqual([]);
    redis.disconnect();
    const again: string[] = [];
    expect(await runCli(['job', 'repair', 'jt.serial'], { out: (l) => again.push(l), err: (l) => again.push(l), cwd: tmpdir(), env })).toBe(0);
    expect(await runCli(['job', 'repair'], { out: (l) => again.push(l), err: (l) => again.push(l), cwd: tmpdir(), env })).toBe(0);
    expect(again).toEqual(['every queue is sound', 'every queue is sound']);

    const second = await boot();
    try {
      expect(second.lines.filter((l) => l.includes('is damaged'))).toEqual([]);
      const serial = await enqueue(second.url, 'jt.serial', { tag, label: 'repaired queue' });
      expect(serial.status).toBe(200);
      await waitFor(() => track(tag).order.includes('repaired queue'));
    } finally {
      await second.server.shutdown('test over');
    }
  });
});
