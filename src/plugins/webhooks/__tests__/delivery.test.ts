/**
 * Outbound delivery end to end: endpoints created through GraphQL, events emitted through GraphQL and the
 * service, jobs delivering signed POSTs to receivers on 127.0.0.1 that verify every one with `standardwebhooks`,
 * attempts recorded; retries over the whole ~3-day schedule with the retry clock; Retry-After, 410, auto-disable
 * with the owner notified, rotation with two signatures, ed25519, filters, channels, FIFO and rate limits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { CREATE, EMIT, REGISTER, errorCode, startStack, waitFor, sleep, type Stack } from './support/stack.js';
import { Receiver } from './support/receiver.js';
import { webhooksEmitter } from '../lib/service.js';
import { msgIdOf } from '../lib/deliver.js';

let s: Stack;
const receivers: Receiver[] = [];
const owner = () => `u-${randomBytes(4).toString('hex')}`;
const typeName = () => `order.t${randomBytes(4).toString('hex')}`;

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().start();
  receivers.push(r);
  return r;
}

async function register(name: string, schema: Record<string, unknown> | null = null) {
  const r = await s.gql('service', REGISTER, { name, description: `${name} happened`, schema, example: { id: 'ex' } });
  expect(r.errors).toBeUndefined();
}

async function endpoint(rcv: Receiver, who: string, vars: Record<string, unknown> = {}) {
  const r = await s.gql(who, CREATE, { url: `${rcv.url}/hook`, ...vars });
  expect(r.errors).toBeUndefined();
  const e = r.data.webhooksCreateEndpoint;
  rcv.keys.push(e.secret ?? e.publicKey);
  return e as { endpointId: string; secret: string | null; publicKey: string | null; signatureScheme: string };
}

async function emitEvent(type: string, payload: unknown, extra: Record<string, unknown> = {}) {
  const r = await s.gql('service', EMIT, { type, payload, ...extra });
  expect(r.errors).toBeUndefined();
  return r.data.webhooksEmit as { messageId: string; created: boolean; deliveries: number };
}

const deliveryOf = async (messageId: string, endpointId: string) =>
  (await s.pool.query('select * from webhooks.delivery where message_id = $1 and endpoint_id = $2', [messageId, endpointId])).rows[0];
const attemptsOf = async (endpointId: string) =>
  (await s.pool.query('select * from webhooks.attempt where endpoint_id = $1 order by created_at, next_retry_at nulls last', [endpointId])).rows;

beforeAll(async () => {
  s = await startStack('webhooks_delivery', { WEBHOOKS_REQUEST_TIMEOUT_MS: '1500' });
});
afterEach(async () => {
  // Each test's endpoints take every type unless filtered: switched off so the next test's messages skip them.
  await s.pool.query('update webhooks.endpoint set enabled = false');
  while (receivers.length) await receivers.pop()!.stop();
});
afterAll(async () => {
  await s?.close();
});

describe('delivery', () => {
  it('delivers a signed message that the consumer verifies, records the attempt, and sends one message per idempotency key', async () => {
    const type = typeName();
    await register(type, { type: 'object', required: ['id'], properties: { id: { type: 'string' } } });
    const rcv = await receiver();
    rcv.respond = () => ({ status: 200, body: 'thanks' });
    const who = owner();
    const e = await endpoint(rcv, who, { headers: { 'X-Team': 'blue' } });
    expect(e.secret).toMatch(/^whsec_/);

    const m = await emitEvent(type, { id: 'o-1', total: 42 }, { idempotencyKey: `k-${type}` });
    expect(m).toMatchObject({ created: true, deliveries: 1 });
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId))?.status === 'succeeded', 15_000, 'delivery');
    expect(rcv.verified()).toHaveLength(1);
    const got = rcv.received[0]!;
    expect(got.headers['webhook-id']).toBe(msgIdOf(m.messageId));
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-team']).toBe('blue');
    expect(JSON.parse(got.body)).toMatchObject({ type, data: { id: 'o-1', total: 42 } });
    // The bytes sent are the bytes stored (and signed): a retry sends exactly these.
    const stored = (await s.pool.query('select body from webhooks.message where id = $1', [m.messageId])).rows[0].body;
    expect(got.body).toBe(stored);
    const [a] = await attemptsOf(e.endpointId);
    expect(a).toMatchObject({ status: 'succeeded', response_code: 200, response_body: 'thanks', error: null, next_retry_at: null });

    // Replay of the emit: the first message stands, nothing is sent again.
    const again = await emitEvent(type, { id: 'o-1', total: 42 }, { idempotencyKey: `k-${type}` });
    expect(again).toEqual({ messageId: m.messageId, created: false, deliveries: 0 });
    await sleep(300);
    expect(rcv.received).toHaveLength(1);
    expect((await s.pool.query('select count(*)::int as n from webhooks.message where idempotency_key = $1', [`k-${type}`])).rows[0].n).toBe(1);
  });

  it('filters by event type and channel, and the service emits like the action', async () => {
    const [a, b] = [typeName(), typeName()];
    await register(a);
    await register(b);
    const [ra, rb, rc] = [await receiver(), await receiver(), await receiver()];
    const who = owner();
    const ea = await endpoint(ra, who, { eventTypes: [a] });
    const eb = await endpoint(rb, who, { eventTypes: [a, b], channels: ['team-1'] });
    await endpoint(rc, who, { eventTypes: [b] });
    const emitter = s.runtime.pluginRuntime('webhooks').service(webhooksEmitter);
    const m1 = await emitter.emit({ type: a, payload: { n: 1 } });
    const m2 = await emitter.emit({ type: a, payload: { n: 2 }, channels: ['team-1'] });
    expect(m1.deliveries).toBe(1);
    expect(m2.deliveries).toBe(2);
    await waitFor(async () => (await deliveryOf(m2.messageId, eb.endpointId))?.status === 'succeeded', 15_000, 'channel delivery');
    await waitFor(async () => (await deliveryOf(m2.messageId, ea.endpointId))?.status === 'succeeded', 15_000, 'type delivery');
    expect(ra.verified().map((r) => JSON.parse(r.body).data.n).sort()).toEqual([1, 2]);
    expect(rb.verified().map((r) => JSON.parse(r.body).data.n)).toEqual([2]);
    expect(rc.received).toHaveLength(0);
  });

  it('refuses an unknown event type, a payload against its schema and one over the size limit; nothing is stored', async () => {
    const type = typeName();
    await register(type, { type: 'object', required: ['id'], properties: { id: { type: 'string' } } });
    const before = (await s.pool.query('select count(*)::int as n from webhooks.message')).rows[0].n;
    expect(errorCode(await s.gql('service', EMIT, { type: 'no.such-type', payload: {} }))).toBe('webhooks/unknown-event-type');
    const bad = await s.gql('service', EMIT, { type, payload: { id: 7 } });
    expect(errorCode(bad)).toBe('webhooks/invalid-payload');
    expect(bad.errors![0]!.message).toMatch(/\/id must be string/);
    expect(errorCode(await s.gql('service', EMIT, { type, payload: { id: 'x'.repeat(70_000) } }))).toBe('webhooks/payload-too-large');
    expect(errorCode(await s.gql('service', EMIT, { type: 'NotDotted', payload: {} }))).toBe('webhooks/invalid-input');
    expect((await s.pool.query('select count(*)::int as n from webhooks.message')).rows[0].n).toBe(before);
  });
});

describe('retries', () => {
  it('retries a 500 along the whole schedule (with jitter) and fails the delivery after it; the webhook-id never changes', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = () => ({ status: 500, body: 'boom' });
    const e = await endpoint(rcv, owner());
    const m = await emitEvent(type, { id: 1 });
    const schedule = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];
    for (let i = 0; i < schedule.length; i++) {
      await waitFor(async () => (await attemptsOf(e.endpointId)).length === i + 1, 15_000, `attempt ${i + 1}`);
      const last = (await attemptsOf(e.endpointId))[i]!;
      expect(last).toMatchObject({ status: 'failed', response_code: 500, response_body: 'boom', error: 'the receiver answered 500' });
      const delay = (new Date(last.next_retry_at).getTime() - new Date(last.created_at).getTime()) / 1000;
      // ±20 % jitter around the scheduled delay.
      expect(delay).toBeGreaterThanOrEqual(schedule[i]! * 0.8 - 1);
      expect(delay).toBeLessThanOrEqual(schedule[i]! * 1.2 + 1);
      expect((await deliveryOf(m.messageId, e.endpointId)).status).toBe('pending');
      await s.advance(schedule[i]! * 1.2 + 2);
    }
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId)).status === 'failed', 15_000, 'final failure');
    const all = await attemptsOf(e.endpointId);
    expect(all).toHaveLength(10);
    expect(all[9]!.next_retry_at).toBeNull();
    expect(new Set(rcv.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([msgIdOf(m.messageId)]));
    expect(rcv.verified()).toHaveLength(10);
  });

  it('honours Retry-After on 429, then delivers', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = (_r, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '120' } } : { status: 200 });
    const e = await endpoint(rcv, owner());
    const m = await emitEvent(type, { id: 1 });
    await waitFor(async () => (await attemptsOf(e.endpointId)).length === 1, 15_000, 'first attempt');
    const [first] = await attemptsOf(e.endpointId);
    const delay = (new Date(first.next_retry_at).getTime() - new Date(first.created_at).getTime()) / 1000;
    expect(delay).toBeGreaterThanOrEqual(119);
    expect(delay).toBeLessThanOrEqual(121);
    await s.advance(60);
    await sleep(500);
    expect(rcv.received).toHaveLength(1);
    await s.advance(61);
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId)).status === 'succeeded', 15_000, 'delivered after Retry-After');
    expect(rcv.verified()).toHaveLength(2);
  });

  it('disables the endpoint on 410 Gone and sends it nothing more', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = () => ({ status: 410 });
    const e = await endpoint(rcv, owner());
    const m = await emitEvent(type, { id: 1 });
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId)).status === 'failed', 15_000, '410');
    const row = (await s.pool.query('select enabled, disabled_reason from webhooks.endpoint where id = $1', [e.endpointId])).rows[0];
    expect(row).toEqual({ enabled: false, disabled_reason: 'the receiver answered 410 Gone' });
    expect((await emitEvent(type, { id: 2 })).deliveries).toBe(0);
    expect(rcv.received).toHaveLength(1);
  });

  it('times out a receiver that hangs and retries it', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = (_r, n) => (n === 1 ? { hang: true } : { status: 200 });
    const e = await endpoint(rcv, owner());
    const m = await emitEvent(type, { id: 1 });
    await waitFor(async () => (await attemptsOf(e.endpointId)).length === 1, 15_000, 'timed-out attempt');
    expect((await attemptsOf(e.endpointId))[0]).toMatchObject({ status: 'failed', response_code: null, error: 'timed out after 1500 ms' });
    await s.advance(10);
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId)).status === 'succeeded', 15_000, 'retry');
    expect(rcv.received.map((r) => r.headers['webhook-id'])).toEqual([msgIdOf(m.messageId), msgIdOf(m.messageId)]);
  });

  it('auto-disables an endpoint failing for WEBHOOKS_DISABLE_AFTER_HOURS and notifies its owner', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = () => ({ status: 503 });
    const who = owner();
    const e = await endpoint(rcv, who, { retrySchedule: [3600, 3600, 3600] });
    await emitEvent(type, { id: 1 });
    await waitFor(async () => (await attemptsOf(e.endpointId)).length === 1, 15_000, 'first failure');
    // 5 days of failures without a success: the next failure disables it.
    await s.advance(121 * 3600);
    await waitFor(async () => (await s.pool.query('select enabled from webhooks.endpoint where id = $1', [e.endpointId])).rows[0].enabled === false, 15_000, 'disabled');
    const row = (await s.pool.query('select disabled_reason from webhooks.endpoint where id = $1', [e.endpointId])).rows[0];
    expect(row.disabled_reason).toMatch(/^every delivery failed for 120 hours/);
    const n = await waitFor(async () => (await s.pool.query('select title, body, category from notifications.notification where user_id = $1', [who])).rows[0], 15_000, 'notification');
    expect(n).toMatchObject({ title: 'Webhook endpoint disabled', category: 'webhooks.endpoint.disabled' });
    expect(n.body).toContain(rcv.url);
  });
});

describe('redirects', () => {
  it('does not follow a redirect to an internal address', async () => {
    // Stands in for an internal service on 127.0.0.2, which the allow-list (127.0.0.1/32) does not cover.
    let internalHits = 0;
    const internal = createServer((_q, r) => {
      internalHits++;
      r.end('secret');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.2', r));
    try {
      const port = (internal.address() as { port: number }).port;
      const type = typeName();
      await register(type);
      const rcv = await receiver();
      rcv.respond = () => ({ status: 302, headers: { location: `http://127.0.0.2:${port}/latest/meta-data/` } });
      const e = await endpoint(rcv, owner());
      await emitEvent(type, {});
      const a = await waitFor(async () => (await attemptsOf(e.endpointId))[0], 15_000, 'attempt');
      expect(a.status).toBe('failed');
      expect(a.error).toBe(`the receiver answered 302 (redirect to http://127.0.0.2:${port}/latest/meta-data/): redirects are not followed`);
      expect(internalHits).toBe(0);
    } finally {
      await new Promise<void>((r) => internal.close(() => r()));
    }
  });
});

describe('signatures', () => {
  it('signs with both secrets during a rotation; the old one stops after its grace period', async () => {
    const type = typeName();
    await register(type);
    const oldKeyHolder = await receiver();
    const who = owner();
    const e = await endpoint(oldKeyHolder, who);
    const rot = await s.gql(who, `mutation ($id: uuid!) { webhooksRotateSecret(id: $id, graceSeconds: 3600) { endpointId secret signatureScheme } }`, { id: e.endpointId });
    expect(rot.errors).toBeUndefined();
    const newSecret = rot.data.webhooksRotateSecret.secret as string;
    expect(newSecret).not.toBe(e.secret);
    const m = await emitEvent(type, { id: 1 });
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId))?.status === 'succeeded', 15_000, 'delivery');
    const got = oldKeyHolder.received[0]!;
    expect(got.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(got.verifiedWith).toBe(0);
    const { Webhook } = await import('standardwebhooks');
    expect(() => new Webhook(newSecret).verify(got.body, got.headers)).not.toThrow();

    await s.advance(3601);
    const m2 = await emitEvent(type, { id: 2 });
    await waitFor(async () => (await deliveryOf(m2.messageId, e.endpointId))?.status === 'succeeded', 15_000, 'delivery after grace');
    const later = oldKeyHolder.received[1]!;
    expect(later.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(later.verifiedWith).toBeNull();
    expect(() => new Webhook(newSecret).verify(later.body, later.headers)).not.toThrow();
  });

  it('signs with ed25519 (v1a) for endpoints that ask for it', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    const e = await endpoint(rcv, owner(), { signatureScheme: 'v1a' });
    expect(e).toMatchObject({ signatureScheme: 'v1a', secret: null, publicKey: expect.stringMatching(/^whpk_/) });
    const m = await emitEvent(type, { id: 1 });
    await waitFor(async () => (await deliveryOf(m.messageId, e.endpointId))?.status === 'succeeded', 15_000, 'delivery');
    expect(rcv.received[0]!.headers['webhook-signature']).toMatch(/^v1a,/);
    expect(rcv.verified()).toHaveLength(1);
  });
});

describe('ordering and limits', () => {
  it('delivers a FIFO endpoint\'s messages of one ordering key one after another, in emit order, even when one needs retries', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    rcv.respond = (_r, n) => (n === 1 ? { status: 500 } : { status: 200, delayMs: 20 });
    const e = await endpoint(rcv, owner(), { fifo: true });
    for (let i = 1; i <= 4; i++) await emitEvent(type, { n: i }, { orderingKey: 'chat-1' });
    await waitFor(async () => (await attemptsOf(e.endpointId)).length >= 1, 15_000, 'first attempt');
    await sleep(500);
    // The first failed: the others wait for it.
    expect(rcv.received).toHaveLength(1);
    await s.advance(10);
    await waitFor(async () => rcv.received.length === 5, 15_000, 'the rest in order');
    expect(rcv.received.map((r) => JSON.parse(r.body).data.n)).toEqual([1, 1, 2, 3, 4]);
  });

  it('keeps to an endpoint\'s per-second rate limit', async () => {
    const type = typeName();
    await register(type);
    const rcv = await receiver();
    const e = await endpoint(rcv, owner(), { rateLimit: 2 });
    for (let i = 0; i < 6; i++) await emitEvent(type, { n: i });
    await waitFor(async () => (await s.pool.query(`select count(*)::int as n from webhooks.delivery where endpoint_id = $1 and status = 'succeeded'`, [e.endpointId])).rows[0].n === 6, 20_000, 'all six');
    const perSecond = new Map<number, number>();
    for (const r of rcv.received) perSecond.set(Math.floor(r.at / 1000), (perSecond.get(Math.floor(r.at / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(2);
    expect(rcv.verified()).toHaveLength(6);
  });
});
