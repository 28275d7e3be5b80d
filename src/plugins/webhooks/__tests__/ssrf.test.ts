/**
 * The SSRF guard: endpoint URLs that reach loopback, private, link-local, CGNAT, metadata or IPv6-equivalent
 * addresses, other schemes and hostnames resolving to such addresses are refused with a clear message and
 * nothing stored; at send time the connection goes only to a checked address, and redirects are not followed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CREATE, EMIT, REGISTER, errorCode, startStack, waitFor, type Stack } from './support/stack.js';
import { Receiver } from './support/receiver.js';
import { blockedReason, parseAllowList, urlProblem } from '../lib/ssrf.js';

let s: Stack;

beforeAll(async () => {
  // No allow-list here (production's default): even 127.0.0.1 is refused.
  s = await startStack('webhooks_ssrf', { WEBHOOKS_SSRF_ALLOW: '' });
  const r = await s.gql('service', REGISTER, { name: 'ssrf.check', description: 'test' });
  expect(r.errors).toBeUndefined();
});
afterAll(async () => {
  await s?.close();
});

describe('address rules', () => {
  const none = parseAllowList('');
  it.each([
    ['127.0.0.1', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local.*metadata/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['0.0.0.0', /unspecified/],
    ['::1', /loopback/],
    ['fe80::1', /link-local/],
    ['fd00::1', /unique local/],
    ['::ffff:10.0.0.1', /10\.0\.0\.1 is a private address/],
    ['::ffff:169.254.169.254', /link-local/],
    ['224.0.0.1', /multicast/],
  ])('refuses %s', (address, why) => {
    expect(blockedReason(address, none)).toMatch(why);
  });

  it('allows public unicast addresses and what the allow-list names', () => {
    expect(blockedReason('93.184.216.34', none)).toBeNull();
    expect(blockedReason('2606:2800:220:1:248:1893:25c8:1946', none)).toBeNull();
    expect(blockedReason('127.0.0.1', parseAllowList('127.0.0.1/32'))).toBeNull();
    expect(blockedReason('127.0.0.2', parseAllowList('127.0.0.1/32'))).toMatch(/loopback/);
    expect(() => parseAllowList('localhost')).toThrow(/not a CIDR/);
  });

  it('checks every address a hostname resolves to', async () => {
    expect(await urlProblem('http://localhost:9/x', { requireHttps: false, allow: none })).toMatch(/^host localhost resolves to .*loopback/);
    expect(await urlProblem('http://no-such-host.invalid/x', { requireHttps: false, allow: none })).toMatch(/does not resolve/);
    expect(await urlProblem('http://example.test:80/', { requireHttps: true, allow: none })).toBe('must be an https URL');
  });
});

describe('endpoint URLs through GraphQL', () => {
  it.each([
    ['http://127.0.0.2:8080/hook', /127\.0\.0\.2 is a loopback address/],
    ['http://10.0.0.5/hook', /10\.0\.0\.5 is a private address/],
    ['http://[::1]:8080/hook', /::1 is a loopback address/],
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address .*metadata/],
    ['http://100.100.1.1/hook', /carrier-grade NAT/],
    ['http://[fd12::1]/hook', /unique local/],
    ['http://[::ffff:192.168.0.1]/hook', /192\.168\.0\.1 is a private address/],
    ['http://localhost:8080/hook', /host localhost resolves to 127\.0\.0\.1 is a loopback address/],
    ['http://127.0.0.1:8080/hook', /127\.0\.0\.1 is a loopback address/],
    ['file:///etc/passwd', /must be an http\(s\) URL, not file:/],
    ['gopher://example.com:70/_x', /must be an http\(s\) URL, not gopher:/],
    ['http://user:pw@example.com/', /credentials/],
    ['not a url', /not a valid URL/],
  ])('refuses %s with a clear message and stores nothing', async (url, message) => {
    const r = await s.gql('u-ssrf', CREATE, { url });
    expect(errorCode(r)).toBe('webhooks/url-refused');
    expect(r.errors![0]!.message).toMatch(message);
    expect((await s.pool.query('select count(*)::int as n from webhooks.endpoint where url = $1', [url])).rows[0].n).toBe(0);
  });

  it('refuses the same URLs when an endpoint is changed', async () => {
    const e = await s.pool.query<{ id: string }>(`insert into webhooks.endpoint (owner_id, url) values ('u-ssrf2', 'https://example.com/hook') returning id`);
    const id = e.rows[0]!.id;
    const u = await s.gql('u-ssrf2', `mutation ($id: uuid!, $url: String!) { webhooksUpdateEndpoint(id: $id, url: $url) { endpointId } }`, { id, url: 'http://169.254.169.254/' });
    expect(errorCode(u)).toBe('webhooks/url-refused');
    expect((await s.pool.query('select url from webhooks.endpoint where id = $1', [id])).rows[0].url).toBe('https://example.com/hook');
  });
});

describe('at send time', () => {
  it('connects only to checked addresses: a name that now resolves to a blocked address is refused at connect time', async () => {
    const rcv = await new Receiver().start();
    try {
      // As if DNS changed after the URL was checked: the stored name now resolves to 127.0.0.1. The static check
      // passes (a name, not an address); the agent's own lookup refuses before any connection is made.
      const port = new URL(rcv.url).port;
      const e = await s.pool.query<{ id: string }>(`insert into webhooks.endpoint (owner_id, url, event_types) values ('u-rebind', $1, '{ssrf.check}') returning id`, [`http://localhost:${port}/r`]);
      const id = e.rows[0]!.id;
      await s.pool.query(`insert into webhooks.endpoint_secret (endpoint_id, scheme, secret) values ($1, 'v1', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')`, [id]);
      const m = await s.gql('service', EMIT, { type: 'ssrf.check', payload: {} });
      expect(m.errors).toBeUndefined();
      const a = await waitFor(async () => (await s.pool.query('select * from webhooks.attempt where endpoint_id = $1', [id])).rows[0], 15_000, 'attempt');
      expect(a.status).toBe('failed');
      expect(a.error).toBe('refused: localhost resolves to 127.0.0.1 is a loopback address');
      expect(rcv.received).toHaveLength(0);
    } finally {
      await rcv.stop();
    }
  });
});
