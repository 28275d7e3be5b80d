/**
 * Cron triggers under `nself-plugins dev`: the scheduler creates the events of the occurrences since its last
 * tick, and the harness delivers them to the webhook with Hasura's cron payload.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CronScheduler } from '../../src/dev/crons.js';
import { chatMetadata, startChat, type ChatFixture } from './support/fixture.js';

let f: ChatFixture;
let hook: http.Server;
const deliveries: any[] = [];

beforeAll(async () => {
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      deliveries.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const meta = chatMetadata() as any;
  meta.cron_triggers = [
    { name: 'every_minute', webhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/cron`, schedule: '* * * * *', include_in_metadata: true, payload: { job: 'tick' }, retry_conf: { num_retries: 0, retry_interval_seconds: 10, timeout_seconds: 5, tolerance_seconds: 3600 } },
  ];
  f = await startChat('dev_crons', { harness: { cronFetchIntervalMs: 50 } }, meta);
});
afterAll(async () => {
  await f?.close();
  await new Promise<void>((r) => hook.close(() => r()));
});

describe('cron scheduler', () => {
  it('creates one event per occurrence since the last tick and the harness delivers each once', async () => {
    const now = new Date();
    const from = new Date(now.getTime() - 150_000);
    const expected = Math.floor(now.getTime() / 60_000) - Math.floor(from.getTime() / 60_000);
    const scheduler = new CronScheduler(f.endpoint.harness, from);
    expect(await scheduler.tick(now)).toBe(expected);
    expect(await scheduler.tick(now)).toBe(0);
    await f.endpoint.harness.drain();
    expect(deliveries).toHaveLength(expected);
    for (const d of deliveries) {
      expect(d).toMatchObject({ name: 'every_minute', payload: { job: 'tick' } });
      expect(new Date(d.scheduled_time).getUTCSeconds()).toBe(0);
    }
    await scheduler.stop();
  });
});
