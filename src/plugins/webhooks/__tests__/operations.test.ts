/**
 * The consumer portal as Hasura tables and actions: owners read only their own endpoints, deliveries, attempts
 * and messages; send a test, resend one message, recover all failed since a time, update, rotate and delete —
 * and every action refuses wrong types, missing fields, oversize input and other owners' ids, changing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CREATE, EMIT, REGISTER, as, errorCode, startStack, waitFor, type Stack } from './support/stack.js';
import { Receiver } from './support/receiver.js';

let s: Stack;
let rcv: Receiver;
const T = (name: string) => ({ schema: 'webhooks', name });
const owner = () => `u-${randomBytes(4).toString('hex')}`;

async function endpoint(who: string, vars: Record<string, unknown> = {}) {
  const r = await s.gql(who, CREATE, { url: `${rcv.url}/hook`, eventTypes: ['portal.event'], ...vars });
  expect(r.errors).toBeUndefined();
  rcv.keys.push(r.data.webhooksCreateEndpoint.secret);
  return r.data.webhooksCreateEndpoint.endpointId as string;
}
const delivery = async (endpointId: string) => (await s.pool.query('select * from webhooks.delivery where endpoint_id = $1 order by created_at', [endpointId])).rows;
const snapshot = async () => (await s.pool.query(`select (select json_agg(e order by id) from webhooks.endpoint e) as e, (select json_agg(d order by id) from webhooks.delivery d) as d, (select count(*) from webhooks.endpoint_secret) as s`)).rows[0];

beforeAll(async () => {
  s = await startStack('webhooks_ops');
  rcv = await new Receiver().start();
  expect((await s.gql('service', REGISTER, { name: 'portal.event', description: 'A portal event', example: { hello: 'world' } })).errors).toBeUndefined();
});
afterAll(async () => {
  await rcv?.stop();
  await s?.close();
});

describe('the owner portal', () => {
  it('owners read only their own endpoints, deliveries, attempts and messages; secrets are never readable', async () => {
    const [ann, bob] = [owner(), owner()];
    const ea = await endpoint(ann);
    const eb = await endpoint(bob);
    const m = await s.gql('service', EMIT, { type: 'portal.event', payload: { n: 1 } });
    await waitFor(async () => (await delivery(ea))[0]?.status === 'succeeded' && (await delivery(eb))[0]?.status === 'succeeded', 15_000, 'deliveries');
    const endpoints = await s.harness.select('user', { userId: ann }, T('endpoint'));
    expect(endpoints.map((e: any) => e.id)).toEqual([ea]);
    expect(Object.keys(endpoints[0]!)).not.toContain('rate_count');
    const deliveries = await s.harness.select('user', { userId: ann }, T('delivery'));
    expect(deliveries.map((d: any) => d.endpoint_id)).toEqual([ea]);
    const attempts = await s.harness.select('user', { userId: ann }, T('attempt'));
    expect(attempts.map((a: any) => a.endpoint_id)).toEqual([ea]);
    const messages = await s.harness.select('user', { userId: ann }, T('message'));
    expect(messages.map((x: any) => x.id)).toEqual([m.data.webhooksEmit.messageId]);
    expect(Object.keys(messages[0]!)).not.toContain('idempotency_key');
    expect(await s.harness.select('user', { userId: 'nobody' }, T('message'))).toEqual([]);
    await expect(s.harness.select('user', { userId: ann }, T('endpoint_secret'))).rejects.toThrow();
  });

  it('lists the event type catalogue', async () => {
    const r = await s.gql(owner(), 'query { webhooksEventTypes { name description example } }');
    expect(r.errors).toBeUndefined();
    expect(r.data.webhooksEventTypes).toEqual(expect.arrayContaining([{ name: 'portal.event', description: 'A portal event', example: { hello: 'world' } }, expect.objectContaining({ name: 'webhook.test' })]));
  });

  it('sends a test message to one endpoint only', async () => {
    const who = owner();
    const e = await endpoint(who);
    const other = await endpoint(owner());
    const before = rcv.received.length;
    const r = await s.gql(who, `mutation ($id: uuid!) { webhooksSendTest(id: $id) { messageId deliveryId } }`, { id: e });
    expect(r.errors).toBeUndefined();
    await waitFor(async () => (await delivery(e))[0]?.status === 'succeeded', 15_000, 'test delivery');
    expect(await delivery(other)).toEqual([]);
    const got = rcv.received.slice(before);
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0]!.body)).toMatchObject({ type: 'webhook.test', data: { message: 'This is a test webhook from nself-plugins.' } });
    expect(got[0]!.verifiedWith).not.toBeNull();
  });

  it('resends one message and recovers every failed one since a time, with the same webhook-id', async () => {
    const who = owner();
    const flaky = await new Receiver().start();
    try {
      flaky.respond = () => ({ status: 410 });
      const c = await s.gql(who, CREATE, { url: `${flaky.url}/x`, eventTypes: ['portal.event'], retrySchedule: [] });
      const e = c.data.webhooksCreateEndpoint.endpointId;
      flaky.keys.push(c.data.webhooksCreateEndpoint.secret);
      const since = new Date(Date.now() - 1000).toISOString();
      const m1 = (await s.gql('service', EMIT, { type: 'portal.event', payload: { n: 1 } })).data.webhooksEmit.messageId;
      await waitFor(async () => (await delivery(e))[0]?.status === 'failed', 15_000, 'failed by 410');
      const m2 = (await s.gql('service', EMIT, { type: 'portal.event', payload: { n: 2 } })).data.webhooksEmit.messageId;
      expect(m2).toBeDefined();
      // Disabled by the 410: resend and recover refuse until it is enabled again.
      expect(errorCode(await s.gql(who, `mutation ($e: uuid!, $m: uuid!) { webhooksResend(endpointId: $e, messageId: $m) { deliveryId } }`, { e, m: m1 }))).toBe('webhooks/endpoint-disabled');
      flaky.respond = () => ({ status: 200 });
      const en = await s.gql(who, `mutation ($id: uuid!) { webhooksUpdateEndpoint(id: $id, enabled: true) { enabled } }`, { id: e });
      expect(en.data.webhooksUpdateEndpoint.enabled).toBe(true);

      const rs = await s.gql(who, `mutation ($e: uuid!, $m: uuid!) { webhooksResend(endpointId: $e, messageId: $m) { messageId deliveryId } }`, { e, m: m1 });
      expect(rs.errors).toBeUndefined();
      await waitFor(async () => (await delivery(e)).find((d) => d.message_id === m1)?.status === 'succeeded', 15_000, 'resent');
      // m2 was emitted while the endpoint was disabled: it was never sent there, so recover has nothing; resend sends it.
      const rec = await s.gql(who, `mutation ($e: uuid!, $since: timestamptz!) { webhooksRecover(endpointId: $e, since: $since) { recovered } }`, { e, since });
      expect(rec.data.webhooksRecover.recovered).toBe(0);
      await s.pool.query(`update webhooks.delivery set status = 'failed' where endpoint_id = $1`, [e]);
      const rec2 = await s.gql(who, `mutation ($e: uuid!, $since: timestamptz!) { webhooksRecover(endpointId: $e, since: $since) { recovered } }`, { e, since });
      expect(rec2.data.webhooksRecover.recovered).toBe(1);
      await waitFor(async () => (await delivery(e)).every((d) => d.status === 'succeeded'), 15_000, 'recovered');
      const ids = flaky.received.map((r) => r.headers['webhook-id']);
      expect(ids.filter((i) => i === ids[0])).toHaveLength(3);
      expect(flaky.verified()).toHaveLength(3);
    } finally {
      await flaky.stop();
    }
  });

  it('updates, disables and deletes an endpoint', async () => {
    const who = owner();
    const e = await endpoint(who);
    const u = await s.gql(who, `mutation ($id: uuid!) { webhooksUpdateEndpoint(id: $id, description: "CRM", rateLimit: 5, headers: {Authorization: "Bearer x"}, clearEventTypes: true) { endpointId enabled } }`, { id: e });
    expect(u.errors).toBeUndefined();
    const row = (await s.pool.query('select description, rate_limit, headers, event_types from webhooks.endpoint where id = $1', [e])).rows[0];
    expect(row).toEqual({ description: 'CRM', rate_limit: 5, headers: { Authorization: 'Bearer x' }, event_types: null });
    const off = await s.gql(who, `mutation ($id: uuid!) { webhooksUpdateEndpoint(id: $id, enabled: false) { enabled } }`, { id: e });
    expect(off.data.webhooksUpdateEndpoint.enabled).toBe(false);
    const d = await s.gql(who, `mutation ($id: uuid!) { webhooksDeleteEndpoint(id: $id) { deleted } }`, { id: e });
    expect(d.data.webhooksDeleteEndpoint.deleted).toBe(true);
    expect((await s.pool.query('select count(*)::int as n from webhooks.endpoint_secret where endpoint_id = $1', [e])).rows[0].n).toBe(0);
  });
});

describe('bad input changes nothing', () => {
  it('refuses another owner\'s endpoint ids as if they did not exist', async () => {
    const [ann, eve] = [owner(), owner()];
    const e = await endpoint(ann);
    const before = await snapshot();
    for (const doc of [
      `mutation ($id: uuid!) { webhooksUpdateEndpoint(id: $id, url: "https://example.com/evil") { endpointId } }`,
      `mutation ($id: uuid!) { webhooksRotateSecret(id: $id) { secret } }`,
      `mutation ($id: uuid!) { webhooksDeleteEndpoint(id: $id) { deleted } }`,
      `mutation ($id: uuid!) { webhooksSendTest(id: $id) { messageId } }`,
      `mutation ($id: uuid!) { webhooksRecover(endpointId: $id, since: "2020-01-01T00:00:00Z") { recovered } }`,
    ]) {
      expect(errorCode(await s.gql(eve, doc, { id: e }))).toBe('webhooks/endpoint-not-found');
    }
    expect(errorCode(await s.gql(eve, CREATE, { url: `${rcv.url}/x`, ownerId: ann }))).toBe('webhooks/invalid-input');
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['a wrong type', CREATE, { url: 42 }, 'validation-failed'],
    ['a missing field', `mutation { webhooksCreateEndpoint(description: "x") { endpointId } }`, {}, 'validation-failed'],
    ['an oversize URL', CREATE, { url: `https://example.com/${'a'.repeat(2100)}` }, 'webhooks/invalid-input'],
    ['an unknown event type filter', CREATE, { url: 'http://127.0.0.1:9/h', eventTypes: ['no.such'] }, 'webhooks/unknown-event-type'],
    ['a reserved header', CREATE, { url: 'https://example.com/h', headers: { 'webhook-signature': 'v1,forged' } }, 'webhooks/invalid-input'],
    ['a header with a newline', CREATE, { url: 'https://example.com/h', headers: { 'X-A': 'a\r\nX-B: b' } }, 'webhooks/invalid-input'],
    ['a zero rate limit', CREATE, { url: 'https://example.com/h', rateLimit: 0 }, 'webhooks/invalid-input'],
    ['an unknown scheme', CREATE, { url: 'https://example.com/h', signatureScheme: 'v2' }, 'validation-failed'],
    ['a bad uuid', `mutation { webhooksDeleteEndpoint(id: "not-a-uuid") { deleted } }`, {}, 'webhooks/invalid-input'],
    ['a bad timestamp', `mutation { webhooksRecover(endpointId: "00000000-0000-0000-0000-000000000000", since: "tomorrow") { recovered } }`, {}, 'webhooks/invalid-input'],
    ['an emit by a user', EMIT, { type: 'portal.event', payload: {} }, 'validation-failed'],
  ])('refuses %s', async (_what, doc, vars, code) => {
    const before = await snapshot();
    expect(errorCode(await s.harness.graphql(doc, vars, as('u-bad')))).toBe(code);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an invalid JSON Schema for an event type', async () => {
    const r = await s.gql('service', REGISTER, { name: 'bad.schema', description: 'x', schema: { type: 'no-such-type' } });
    expect(errorCode(r)).toBe('webhooks/invalid-input');
    expect((await s.pool.query(`select count(*)::int as n from webhooks.event_type where name = 'bad.schema'`)).rows[0].n).toBe(0);
  });

  it('limits endpoints per owner', async () => {
    const who = owner();
    const e = await s.pool.query(`insert into webhooks.endpoint (owner_id, url) select $1, 'https://example.com/' || g from generate_series(1, 50) g`, [who]);
    expect(e.rowCount).toBe(50);
    expect(errorCode(await s.gql(who, CREATE, { url: `${rcv.url}/x` }))).toBe('webhooks/too-many-endpoints');
  });
});
