/**
 * A job a plugin contributes runs with that plugin's features and services (`ctx.features`,
 * `ctx.service`), taken from the plugin's runtime; the app's own jobs get the jobs plugin's.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { z } from 'zod';
import { defineService, definePlugin, type PluginRuntime, type ServiceToken } from '../../../core/plugin.js';
import { defineJob } from '../lib/define-job.js';
import { createFixture, waitFor, type Fixture } from './support/fixture.js';

const counter = defineService<{ hits: number }>({ name: 'counter', create: () => ({ hits: 0 }) });
const seen: Array<{ features: string[]; hits: number }> = [];

const probe = defineJob({
  name: 'ctxp.probe',
  queue: 'ctxp.work',
  data: z.object({}),
  feature: 'probing',
  handler: async (_data, ctx) => {
    const c = ctx.service(counter);
    c.hits++;
    seen.push({ features: [...ctx.features].sort(), hits: c.hits });
    return ctx.optionalService(counter) === c;
  },
});

const ctxPlugin = definePlugin({ name: 'ctxp', version: '1.0.0', description: 'context probe', features: { probing: { description: 'probe' } }, services: [counter], jobs: [probe] });

let f: Fixture;
const instance = { hits: 0 };

beforeAll(async () => {
  const runtimeOf = (plugin: string) =>
    ({
      plugin,
      features: new Set(plugin === 'ctxp' ? ['probing', 'other'] : []),
      service: <T>(token: ServiceToken<T>) => {
        if (token !== (counter as unknown)) throw new Error('unknown service');
        return instance as T;
      },
      optionalService: <T>(token: ServiceToken<T>) => (token === (counter as unknown) ? (instance as T) : undefined),
    }) as unknown as PluginRuntime;
  f = await createFixture('postgres', 0, { plugins: [ctxPlugin], runtimeOf });
  await f.jobs.startWorkers(['ctxp.work']);
});

afterAll(async () => {
  await f?.close();
});

it('gives a contributed job its own plugin\'s features and services', async () => {
  const job = await probe.enqueue(f.actionCtx(), {});
  await waitFor(async () => (await f.provider.queue('ctxp.work').getJob(job.id))?.returnvalue === true, 15_000, 'the probe job');
  expect(seen).toEqual([{ features: ['other', 'probing'], hits: 1 }]);
  expect(instance.hits).toBe(1);
});
