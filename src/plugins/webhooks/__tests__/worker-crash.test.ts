/**
 * A worker killed mid-delivery: deliveries run in a separate `nself-plugins worker` process, which is killed
 * with SIGKILL while the receiver holds its request. Once the attempt's lease lapses the dispatcher hands the
 * delivery to another worker, which sends it again with the same `webhook-id` (so the consumer can dedupe).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CREATE, EMIT, REGISTER, startStack, waitFor, type Stack } from './support/stack.js';
import { Receiver } from './support/receiver.js';
import { msgIdOf } from '../lib/deliver.js';

let s: Stack;
let rcv: Receiver;
const children: ChildProcess[] = [];

/** `nself-plugins worker` on the webhooks queue, against the test's database; resolves once it works. */
async function worker(): Promise<ChildProcess> {
  const main = join(process.cwd(), 'src/cli/main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'worker', '--queues', 'webhooks.deliver'], {
    env: { ...process.env, ...s.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker did not start: ${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('working on')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${out}`)));
  });
  return child;
}

beforeAll(async () => {
  // This process runs no webhook worker: only the child processes deliver.
  s = await startStack('webhooks_crash', { JOBS_QUEUES: 'notifications.push', WEBHOOKS_REQUEST_TIMEOUT_MS: '120000' });
  rcv = await new Receiver().start();
  expect((await s.gql('service', REGISTER, { name: 'crash.test', description: 'x' })).errors).toBeUndefined();
}, 60_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rcv?.stop();
  await s?.close();
});

describe('a worker killed mid-delivery', () => {
  it('is replaced after the lease lapses; the attempt is sent again with the same webhook-id', async () => {
    rcv.respond = (_r, n) => (n === 1 ? { hang: true } : { status: 200 });
    const c = await s.gql('u-crash', CREATE, { url: `${rcv.url}/h` });
    rcv.keys.push(c.data.webhooksCreateEndpoint.secret);
    const first = await worker();
    const m = await s.gql('service', EMIT, { type: 'crash.test', payload: { n: 1 } });
    const messageId = m.data.webhooksEmit.messageId as string;
    await waitFor(() => rcv.received.length === 1, 30_000, 'the first request');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const d = (await s.pool.query('select * from webhooks.delivery where message_id = $1', [messageId])).rows[0];
    expect(d).toMatchObject({ status: 'sending', attempts: 1 });
    expect(await s.pool.query('select * from webhooks.attempt where delivery_id = $1', [d.id]).then((r) => r.rows)).toEqual([]);

    await worker();
    // Before the lease (request timeout + 30 s = 150 s) lapses nothing is sent twice; after it, the dispatcher
    // restarts the attempt.
    await s.advance(10);
    await new Promise((r) => setTimeout(r, 1000));
    expect(rcv.received).toHaveLength(1);
    await s.advance(200);
    await waitFor(async () => (await s.pool.query('select status from webhooks.delivery where id = $1', [d.id])).rows[0].status === 'succeeded', 30_000, 'redelivery');
    expect(rcv.received.map((r) => r.headers['webhook-id'])).toEqual([msgIdOf(messageId), msgIdOf(messageId)]);
    expect(rcv.verified()).toHaveLength(2);
    const attempts = (await s.pool.query('select status from webhooks.attempt where delivery_id = $1', [d.id])).rows;
    expect(attempts).toEqual([{ status: 'succeeded' }]);
  }, 120_000);

  it('killed mid-batch: what was recorded is not sent again; the rest is sent again with the same webhook-id', async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r))));
    // The first test's endpoint takes no part in this one.
    await s.pool.query('update webhooks.endpoint set enabled = false');
    const receivers = [await new Receiver().start(), await new Receiver().start(), await new Receiver().start()];
    try {
      const [quick, slow1, slow2] = receivers as [Receiver, Receiver, Receiver];
      quick.respond = () => ({ status: 200 });
      slow1.respond = (_r, n) => (n === 1 ? { hang: true } : { status: 200 });
      slow2.respond = (_r, n) => (n === 1 ? { hang: true } : { status: 200 });
      const who = 'u-crash-batch';
      for (const r of receivers) {
        const c = await s.gql(who, CREATE, { url: `${r.url}/batch` });
        expect(c.errors).toBeUndefined();
        r.keys.push(c.data.webhooksCreateEndpoint.secret);
      }
      const first = await worker();
      const m = await s.gql('service', EMIT, { type: 'crash.test', payload: { n: 2 } });
      const messageId = m.data.webhooksEmit.messageId as string;
      const mine = async () =>
        (await s.pool.query(`select d.id, d.status, e.url from webhooks.delivery d join webhooks.endpoint e on e.id = d.endpoint_id where d.message_id = $1 and e.url like '%/batch'`, [messageId])).rows;
      await waitFor(async () => slow1.received.length === 1 && slow2.received.length === 1 && (await mine()).some((d) => d.status === 'succeeded'), 30_000, 'one recorded, two hanging');
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      expect((await mine()).map((d) => d.status).sort()).toEqual(['sending', 'sending', 'succeeded']);

      await worker();
      await s.advance(200);
      await waitFor(async () => (await mine()).every((d) => d.status === 'succeeded'), 30_000, 'the two sent again');
      await new Promise((r) => setTimeout(r, 500));
      expect(quick.verified()).toHaveLength(1);
      expect(quick.received).toHaveLength(1);
      for (const r of [slow1, slow2]) {
        expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([msgIdOf(messageId), msgIdOf(messageId)]);
        expect(r.verified()).toHaveLength(2);
      }
      const attempts = (await s.pool.query(`select a.status from webhooks.attempt a join webhooks.endpoint e on e.id = a.endpoint_id where a.message_id = $1 and e.url like '%/batch'`, [messageId])).rows;
      expect(attempts.map((a) => a.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    } finally {
      for (const r of receivers) await r.stop();
    }
  }, 120_000);
});
