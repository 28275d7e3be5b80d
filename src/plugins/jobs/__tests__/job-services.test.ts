/**
 * Jobs a plugin contributes reach services the way its handlers do (`ctx.service(token)`): their own plugin's
 * and those of the plugins it depends on, and no others. Through a real runtime and server (whose start hook
 * runs the workers), on BullMQ's PostgreSQL backend.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { z } from 'zod';
import { readActionsSdl } from '../../../core/action-input.js';
import { createRuntime, type ServerRuntime } from '../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../core/server.js';
import { defineService, definePlugin } from '../../../core/plugin.js';
import { createScratchDatabase, uniqueName, type ScratchDatabase } from '../../../../test/support/db.js';
import { defineJob } from '../lib/define-job.js';
import { jobsPlugin } from '../plugin.js';
import { waitFor } from './support/fixture.js';

const queue = `svca.${uniqueName('q')}`;
const results: Array<{ label: string; value?: string; error?: string }> = [];

const counter = defineService<{ next(): number; label: string }>({
  name: 'counter',
  create: () => {
    let n = 0;
    return { next: () => ++n, label: 'svc-a' };
  },
});
const unrelated = defineService<{ label: string }>({ name: 'unrelated', create: () => ({ label: 'svc-b' }) });

const useCounter = defineJob({
  name: 'svca.use',
  queue,
  data: z.object({ label: z.string() }),
  attempts: 1,
  async handler({ label }, ctx) {
    const c = ctx.service(counter);
    results.push({ label, value: `${c.label}:${c.next()}` });
  },
});
const useUnrelated = defineJob({
  name: 'svca.unrelated',
  queue,
  data: z.object({ label: z.string() }),
  attempts: 1,
  async handler({ label }, ctx) {
    try {
      ctx.service(unrelated);
      results.push({ label, value: 'reached' });
    } catch (e) {
      results.push({ label, error: (e as Error).message });
    }
  },
});

const pluginA = definePlugin({ name: 'svca', version: '1.0.0', description: 'jobs with a service', dependsOn: ['jobs'], services: [counter], jobs: [useCounter, useUnrelated] });
const pluginB = definePlugin({ name: 'svcb', version: '1.0.0', description: 'an unrelated service', services: [unrelated] });

let db: ScratchDatabase;
let runtime: ServerRuntime;
let server: NselfServer;

beforeAll(async () => {
  db = await createScratchDatabase('job_services');
  runtime = await createRuntime(
    { DATABASE_URL: db.url, NSELF_PLUGINS_WEBHOOK_SECRET: 'job-services-secret-0123456789', LOG_LEVEL: 'silent', JOBS_DIR: '/nonexistent-jobs-dir' },
    { plugins: [jobsPlugin, pluginB, pluginA], actionsSdl: (p) => (p === 'jobs' ? readActionsSdl(p) : undefined), defaultMetrics: false },
  );
  server = createServer(runtime);
  await server.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await server?.shutdown('test done');
  await db?.drop();
});

it('gives a job its own plugin’s services and refuses those of a plugin it does not depend on', async () => {
  const ctx = runtime.contextFor('svca', { session: null, requestId: 't' });
  await useCounter.enqueue(ctx, { label: 'one' });
  await useCounter.enqueue(ctx, { label: 'two' });
  await useUnrelated.enqueue(ctx, { label: 'three' });
  await waitFor(() => results.length === 3, 20_000, 'three jobs');
  const byLabel = Object.fromEntries(results.map((r) => [r.label, r]));
  expect([byLabel.one!.value, byLabel.two!.value].sort()).toEqual(['svc-a:1', 'svc-a:2']);
  expect(byLabel.three!.error).toMatch(/does not declare svcb/);
});
