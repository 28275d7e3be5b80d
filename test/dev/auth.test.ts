/**
 * Authentication as Hasura does it: admin secret with role headers, JWT (HS256 key, RS256 via jwk_url, claims
 * namespace, namespace path, stringified claims, claims_map, audience, issuer), the unauthorized role, and
 * Hasura's error messages and codes — over HTTP and in graphql-ws connection_init.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { chatMetadata, startChat, type ChatFixture } from './support/fixture.js';
import { Authenticator, readJsonPath } from '../../src/dev/auth.js';

const KEY = 'a-test-secret-that-is-at-least-32-characters-long';
const NS = 'https://hasura.io/jwt/claims';
const hs = (claims: Record<string, unknown>, opts: { exp?: string | number; key?: string; aud?: string; iss?: string } = {}) => {
  let j = new SignJWT({ [NS]: claims, ...(opts.aud ? { aud: opts.aud } : {}), ...(opts.iss ? { iss: opts.iss } : {}) }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) j = j.setExpirationTime(opts.exp);
  return j.sign(new TextEncoder().encode(opts.key ?? KEY));
};
const userClaims = (id: string, extra: Record<string, unknown> = {}) => ({ 'x-hasura-allowed-roles': ['user', 'member'], 'x-hasura-default-role': 'user', 'x-hasura-user-id': id, ...extra });

let f: ChatFixture;
beforeAll(async () => {
  const meta = chatMetadata() as any;
  // A role whose permission reads an array session variable with _in.
  meta.sources[0].tables[1].select_permissions.push({ role: 'member', permission: { columns: ['id', 'name'], filter: { id: { _in: 'X-Hasura-Room-Ids' } } } });
  f = await startChat('dev_auth', { auth: { adminSecret: 'adm1n', jwtSecret: JSON.stringify({ type: 'HS256', key: KEY }), unauthorizedRole: 'anonymous' } }, meta);
});
afterAll(async () => {
  await f?.close();
});

const errorOf = (r: { errors?: { message: string; extensions?: Record<string, unknown> }[] }) => r.errors?.[0];

describe('admin secret', () => {
  it('is admin with the secret, takes the role and session from headers, and refuses a wrong secret', async () => {
    const admin = await f.gql(`{ users_aggregate { aggregate { count } } }`, undefined, { 'x-hasura-admin-secret': 'adm1n' });
    expect(admin.data!.users_aggregate.aggregate.count).toBe(3);
    const asUser = await f.gql(`{ messages { author_id } }`, undefined, { 'x-hasura-admin-secret': 'adm1n', 'x-hasura-role': 'user', 'x-hasura-user-id': 'u2' });
    expect(new Set(asUser.data!.messages.map((m: { author_id: string }) => m.author_id))).toEqual(new Set(['u1', 'u2']));
    const wrong = await f.gql(`{ users { id } }`, undefined, { 'x-hasura-admin-secret': 'nope' });
    expect(errorOf(wrong)).toEqual({ message: 'invalid x-hasura-admin-secret/x-hasura-access-key', extensions: { path: '$', code: 'access-denied' } });
  });

  it('gives requests without credentials the unauthorized role, which sees only its fields', async () => {
    const r = await f.gql(`{ rooms { name } }`);
    expect(r.data!.rooms).toEqual([{ name: 'general' }]);
    const hidden = await f.gql(`{ messages { id } }`);
    expect(errorOf(hidden)).toMatchObject({ message: `field "messages" not found in type: 'query_root'`, extensions: { code: 'validation-failed' } });
  });

  it('without an unauthorized role, asks for the secret or a token', async () => {
    const secretOnly = new Authenticator({ adminSecret: 's' });
    await expect(secretOnly.authenticate({})).rejects.toMatchObject({ message: 'x-hasura-admin-secret/x-hasura-access-key required, but not found', code: 'access-denied' });
    const jwtOnly = new Authenticator({ adminSecret: 's', jwtSecret: { type: 'HS256', key: KEY } });
    await expect(jwtOnly.authenticate({})).rejects.toMatchObject({ message: "Missing 'Authorization' or 'Cookie' header in JWT authentication mode", code: 'invalid-headers' });
    await expect(jwtOnly.authenticate({ authorization: 'Basic abc' })).rejects.toMatchObject({ message: 'Malformed Authorization header', code: 'invalid-headers' });
    expect(new Authenticator({}).open).toBe(true);
  });
});

describe('JWT', () => {
  it('reads the session from the claims: default role, requested role, array claims as Postgres arrays', async () => {
    const token = await hs(userClaims('u1', { 'x-hasura-room-ids': [2, 3] }), { exp: '1h' });
    const r = await f.gql(`{ messages(order_by: {id: asc}) { id } }`, undefined, { authorization: `Bearer ${token}` });
    expect(r.data!.messages.map((m: { id: number }) => m.id)).toEqual([1, 2, 3]);
    const member = await f.gql(`{ rooms(order_by: {id: asc}) { name } }`, undefined, { authorization: `Bearer ${token}`, 'x-hasura-role': 'member' });
    expect(member.data!.rooms).toEqual([{ name: 'secret' }, { name: 'bobs' }]);
    // x-hasura-* headers other than the role do not override claims in JWT mode.
    const spoof = await f.gql(`{ messages { author_id } }`, undefined, { authorization: `Bearer ${token}`, 'x-hasura-user-id': 'u2' });
    expect(spoof.data!.messages.length).toBe(3);
  });

  it('rejects a bad signature, an expired token and a role outside allowed roles with Hasura errors', async () => {
    const bad = await hs(userClaims('u1'), { key: 'another-secret-another-secret-another-secret!' });
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: `Bearer ${bad}` }))).toEqual({ message: 'Could not verify JWT: JWSError JWSInvalidSignature', extensions: { path: '$', code: 'invalid-jwt' } });
    const expired = await hs(userClaims('u1'), { exp: Math.floor(Date.now() / 1000) - 60 });
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: `Bearer ${expired}` }))).toEqual({ message: 'Could not verify JWT: JWTExpired', extensions: { path: '$', code: 'invalid-jwt' } });
    const ok = await hs(userClaims('u1'), { exp: '1h' });
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: `Bearer ${ok}`, 'x-hasura-role': 'admin' }))).toEqual({ message: 'Your requested role is not in allowed roles', extensions: { path: '$', code: 'access-denied' } });
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: 'Bearer not.a.jwt' }))!.extensions).toMatchObject({ code: 'invalid-jwt' });
    const noRoles = await new SignJWT({ [NS]: { 'x-hasura-user-id': 'u1' } }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(KEY));
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: `Bearer ${noRoles}` }))).toMatchObject({ extensions: { code: 'jwt-missing-role-claims' } });
    const noNs = await new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(KEY));
    expect(errorOf(await f.gql(`{ rooms { id } }`, undefined, { authorization: `Bearer ${noNs}` }))).toEqual({ message: `claims key: '${NS}' not found`, extensions: { path: '$', code: 'jwt-invalid-claims' } });
  });

  it('checks audience and issuer, and allows the configured skew', async () => {
    const a = new Authenticator({ jwtSecret: { type: 'HS256', key: KEY, audience: 'app', issuer: 'me', allowed_skew: 120 } });
    const good = await hs(userClaims('u1'), { aud: 'app', iss: 'me', exp: Math.floor(Date.now() / 1000) - 30 });
    await expect(a.authenticate({ authorization: `Bearer ${good}` })).resolves.toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' });
    const aud = await hs(userClaims('u1'), { aud: 'other', iss: 'me' });
    await expect(a.authenticate({ authorization: `Bearer ${aud}` })).rejects.toMatchObject({ message: 'Could not verify JWT: JWTNotInAudience', code: 'invalid-jwt' });
    const iss = await hs(userClaims('u1'), { aud: 'app', iss: 'them' });
    await expect(a.authenticate({ authorization: `Bearer ${iss}` })).rejects.toMatchObject({ message: 'Could not verify JWT: JWTNotInIssuer', code: 'invalid-jwt' });
  });

  it('reads claims from a namespace path, stringified claims and a claims_map', async () => {
    const key = new TextEncoder().encode(KEY);
    const path = new Authenticator({ jwtSecret: { type: 'HS256', key: KEY, claims_namespace_path: '$.app.hasura' } });
    const t1 = await new SignJWT({ app: { hasura: userClaims('u7') } }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    await expect(path.authenticate({ authorization: `Bearer ${t1}` })).resolves.toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u7' });
    const str = new Authenticator({ jwtSecret: { type: 'HS256', key: KEY, claims_format: 'stringified_json' } });
    const t2 = await new SignJWT({ [NS]: JSON.stringify(userClaims('u8')) }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    await expect(str.authenticate({ authorization: `Bearer ${t2}` })).resolves.toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u8' });
    const map = new Authenticator({
      jwtSecret: {
        type: 'HS256',
        key: KEY,
        claims_map: { 'x-hasura-allowed-roles': { path: '$.roles' }, 'x-hasura-default-role': { path: "$['primary role']", default: 'user' }, 'x-hasura-user-id': { path: '$.sub' }, 'x-hasura-org': 'acme' },
      },
    });
    const t3 = await new SignJWT({ sub: 'u9', roles: ['user'] }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    await expect(map.authenticate({ authorization: `Bearer ${t3}` })).resolves.toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u9', 'x-hasura-org': 'acme' });
    expect(readJsonPath({ a: [{ b: 1 }] }, '$.a[0].b')).toBe(1);
  });

  it('verifies RS256 tokens against a JWKS served at jwk_url', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    try {
      const a = new Authenticator({ jwtSecret: { jwk_url: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` } });
      const t = await new SignJWT({ [NS]: userClaims('u5') }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('1h').sign(privateKey);
      await expect(a.authenticate({ authorization: `Bearer ${t}` })).resolves.toEqual({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u5' });
      const other = await generateKeyPair('RS256');
      const forged = await new SignJWT({ [NS]: userClaims('u5') }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(other.privateKey);
      await expect(a.authenticate({ authorization: `Bearer ${forged}` })).rejects.toMatchObject({ message: 'Could not verify JWT: JWSError JWSInvalidSignature', code: 'invalid-jwt' });
    } finally {
      await new Promise<void>((r) => jwks.close(() => r()));
    }
  });
});

describe('websocket connection_init', () => {
  const wsUrl = () => f.url.replace('http', 'ws') + '/v1/graphql';

  it('authenticates from connection_init headers and refuses a bad token by closing the socket', async () => {
    const token = await hs(userClaims('u1'), { exp: '1h' });
    const client = createClient({ url: wsUrl(), webSocketImpl: WebSocket, connectionParams: { headers: { Authorization: `Bearer ${token}` } }, retryAttempts: 0, lazy: true });
    try {
      const result = await new Promise<any>((resolve, reject) => {
        client.subscribe({ query: '{ messages(order_by: {id: asc}) { id } }' }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(result.data.messages.map((m: { id: number }) => m.id)).toEqual([1, 2, 3]);
    } finally {
      await client.dispose();
    }
    const bad = createClient({ url: wsUrl(), webSocketImpl: WebSocket, connectionParams: { headers: { Authorization: 'Bearer broken' } }, retryAttempts: 0, lazy: true });
    const closed = await new Promise<any>((resolve) => {
      bad.subscribe({ query: '{ rooms { id } }' }, { next: () => undefined, error: resolve, complete: () => undefined });
    });
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/^Could not verify JWT/);
    await bad.dispose();
  });

  it('closes the socket when the JWT expires, as Hasura does', async () => {
    const token = await hs(userClaims('u1'), { exp: Math.floor(Date.now() / 1000) + 2 });
    const client = createClient({ url: wsUrl(), webSocketImpl: WebSocket, connectionParams: { headers: { Authorization: `Bearer ${token}` } }, retryAttempts: 0 });
    try {
      const closed = await new Promise<any>((resolve) => {
        client.on('closed', resolve);
        client.subscribe({ query: 'subscription { rooms { id } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      });
      expect(closed.code).toBe(4400);
      expect(closed.reason).toBe('Could not verify JWT: JWTExpired');
    } finally {
      await client.dispose();
    }
  });
});
