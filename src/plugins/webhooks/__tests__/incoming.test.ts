/**
 * Incoming webhook URLs: JSON posted to `/hooks/webhooks/in/<token>` becomes a row for the URL's owner; size
 * limit, content type, invalid JSON, rate limit and revocation answer clear 4xx and store nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorCode, startStack, type Stack } from './support/stack.js';

let s: Stack;
const CREATE_IN = `mutation ($name: String!, $rateLimit: Int, $ownerId: String) { webhooksCreateIncoming(name: $name, rateLimit: $rateLimit, ownerId: $ownerId) { incomingId url token } }`;

async function create(who: string, vars: Record<string, unknown> = {}) {
  const r = await s.gql(who, CREATE_IN, { name: 'deploys', ...vars });
  expect(r.errors).toBeUndefined();
  return r.data.webhooksCreateIncoming as { incomingId: string; url: string; token: string };
}
const post = (token: string, body: string, type = 'application/json') =>
  fetch(`${s.url}/hooks/webhooks/in/${token}`, { method: 'POST', headers: { 'content-type': type, 'user-agent': 'ci-bot/1' }, body });
const rows = async (incomingId: string) => (await s.pool.query('select * from webhooks.incoming_message where incoming_id = $1 order by received_at', [incomingId])).rows;

beforeAll(async () => {
  s = await startStack('webhooks_incoming', { PUBLIC_URL: 'https://api.example.com', WEBHOOKS_INCOMING_MAX_BYTES: '1024' });
});
afterAll(async () => {
  await s?.close();
});

describe('incoming webhooks', () => {
  it('turns a JSON post into a row of the owner, readable only by the owner', async () => {
    const i = await create('u-ann');
    expect(i.url).toBe(`https://api.example.com/hooks/webhooks/in/${i.token}`);
    const res = await post(i.token, JSON.stringify({ text: 'Deployed v1.2', channel: 'ops' }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const [row] = await rows(i.incomingId);
    expect(row).toMatchObject({ id, owner_id: 'u-ann', payload: { text: 'Deployed v1.2', channel: 'ops' }, content_type: 'application/json', user_agent: 'ci-bot/1' });
    expect((await s.harness.select('user', { userId: 'u-ann' }, { schema: 'webhooks', name: 'incoming_message' })).map((r: any) => r.id)).toEqual([id]);
    expect(await s.harness.select('user', { userId: 'u-bob' }, { schema: 'webhooks', name: 'incoming_message' })).toEqual([]);
    // Only the token's hash is stored.
    const stored = (await s.pool.query('select token_hash::text from webhooks.incoming where id = $1', [i.incomingId])).rows[0].token_hash;
    expect(stored).not.toContain(Buffer.from(i.token).toString('hex'));
  });

  it('refuses oversize, non-JSON and invalid JSON bodies and unknown tokens; stores nothing', async () => {
    const i = await create('u-cy');
    const big = await post(i.token, JSON.stringify({ text: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).extensions.code).toBe('webhooks/payload-too-large');
    expect((await post(i.token, 'text=hi', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post(i.token, '{"text": ')).status).toBe(400);
    expect((await post(i.token, '{"text": "a\\u0000b"}')).status).toBe(400);
    expect((await post('A'.repeat(43), '{}')).status).toBe(404);
    expect((await post('short', '{}')).status).toBe(404);
    expect(await rows(i.incomingId)).toEqual([]);
  });

  it('rate-limits per URL with Retry-After', async () => {
    const i = await create('u-dee', { rateLimit: 2 });
    // Stay inside one minute window.
    const sec = new Date().getUTCSeconds();
    if (sec > 55) await new Promise((r) => setTimeout(r, (61 - sec) * 1000));
    expect((await post(i.token, '{"n":1}')).status).toBe(202);
    expect((await post(i.token, '{"n":2}')).status).toBe(202);
    const third = await post(i.token, '{"n":3}');
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await rows(i.incomingId)).map((r) => r.payload.n)).toEqual([1, 2]);
  });

  it('revokes a URL: later posts answer 404; other users cannot revoke it', async () => {
    const i = await create('u-eve');
    const REVOKE = `mutation ($id: uuid!) { webhooksRevokeIncoming(id: $id) { revoked } }`;
    expect(errorCode(await s.gql('u-mallory', REVOKE, { id: i.incomingId }))).toBe('webhooks/incoming-not-found');
    expect((await post(i.token, '{}')).status).toBe(202);
    const r = await s.gql('u-eve', REVOKE, { id: i.incomingId });
    expect(r.data.webhooksRevokeIncoming.revoked).toBe(true);
    expect((await post(i.token, '{"after":true}')).status).toBe(404);
    expect(await rows(i.incomingId)).toHaveLength(1);
  });

  it('refuses bad input to the create action', async () => {
    expect(errorCode(await s.gql('u-x', CREATE_IN, { name: '' }))).toBe('webhooks/invalid-input');
    expect(errorCode(await s.gql('u-x', CREATE_IN, { name: 'x'.repeat(201) }))).toBe('webhooks/invalid-input');
    expect(errorCode(await s.gql('u-x', CREATE_IN, { name: 'ok', ownerId: 'u-other' }))).toBe('webhooks/invalid-input');
    expect(errorCode(await s.gql('u-x', CREATE_IN, { name: 'ok', rateLimit: 'many' }))).toBe('validation-failed');
    expect((await s.pool.query(`select count(*)::int as n from webhooks.incoming where owner_id in ('u-x', 'u-other')`)).rows[0].n).toBe(0);
  });
});
