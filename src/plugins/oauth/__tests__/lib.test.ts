/**
 * Settings (boot errors name the missing setting), session keys in Hasura's JWT secret format with a JWKS and
 * rotation, the claims hook, and the redirect allow-list.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ConfigError, loadConfig } from '../../../core/config.js';
import { oauthPlugin } from '../plugin.js';
import { ClaimsRegistry } from '../lib/claims.js';
import { KeyConfigError, loadSessionKeys } from '../lib/keys.js';
import { isAllowedRedirect, parseAllowList } from '../lib/redirect.js';
import { Tokens } from '../lib/tokens.js';
import { UsersTable } from '../lib/users.js';
import type { OAuthConfig } from '../config.js';
import { installSpecProblems } from '../../../hasura/project-triggers.js';
import { buildProviders } from '../lib/providers.js';
import selfsigned from 'selfsigned';

const BASE = { PLUGINS_ENABLED: 'oauth', OAUTH_JWT_SECRET: JSON.stringify({ type: 'HS256', key: 'k'.repeat(32) }), OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, [oauthPlugin]);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => `${p.variable}: ${p.message}`);
  }
}

const config = (env: Record<string, string>) => loadConfig({ ...BASE, ...env }, [oauthPlugin]).pluginConfig.get('oauth') as unknown as OAuthConfig;

describe('settings', () => {
  it('boots with no provider and nothing else set', () => {
    expect(problems({ PLUGINS_ENABLED: 'oauth' })).toEqual([]);
  });

  it('names every missing credential of an enabled provider at once', () => {
    expect(problems({ ...BASE, OAUTH_PROVIDERS: 'github,apple', OAUTH_GITHUB_CLIENT_ID: 'id' })).toEqual([
      'OAUTH_GITHUB_CLIENT_SECRET: is required',
      'OAUTH_APPLE_CLIENT_ID: is required',
      'OAUTH_APPLE_TEAM_ID: is required',
      'OAUTH_APPLE_KEY_ID: is required',
      'OAUTH_APPLE_PRIVATE_KEY: is required',
    ]);
  });

  it('reads generic OpenID providers by the names the operator chose', () => {
    const cfg = config({ OAUTH_OIDC_PROVIDERS: 'keycloak,idme', OAUTH_OIDC_KEYCLOAK_ISSUER: 'https://kc.example.com/realms/app', OAUTH_OIDC_KEYCLOAK_CLIENT_ID: 'app', OAUTH_OIDC_IDME_ISSUER: 'https://api.id.me/oidc', OAUTH_OIDC_IDME_CLIENT_ID: 'x', OAUTH_OIDC_IDME_SCOPES: 'openid military' });
    expect(cfg.OAUTH_OIDC_PROVIDERS).toEqual(['keycloak', 'idme']);
    expect(cfg.OAUTH_OIDC_IDME_SCOPES).toBe('openid military');
    expect(problems({ ...BASE, OAUTH_OIDC_PROVIDERS: 'keycloak', OAUTH_OIDC_KEYCLOAK_CLIENT_ID: 'app' })).toEqual(['OAUTH_OIDC_KEYCLOAK_ISSUER: is required']);
  });

  it.each([
    [{ OAUTH_PROVIDERS: 'myspace' }, 'OAUTH_PROVIDERS: unknown provider "myspace"'],
    [{ OAUTH_OIDC_PROVIDERS: 'Bad-Name' }, 'OAUTH_OIDC_PROVIDERS: "Bad-Name" must be'],
    [{ OAUTH_OIDC_PROVIDERS: 'kc', OAUTH_OIDC_KC_ISSUER: 'ftp://x', OAUTH_OIDC_KC_CLIENT_ID: 'a' }, 'OAUTH_OIDC_KC_ISSUER: must be an http(s) URL'],
    [{ OAUTH_OIDC_TYPO_ISSUER: 'https://x.example' }, 'OAUTH_OIDC_TYPO_ISSUER: names a provider that is not in OAUTH_OIDC_PROVIDERS'],
    [{ OAUTH_REDIRECT_ALLOWLIST: 'javascript:alert(1)' }, 'OAUTH_REDIRECT_ALLOWLIST: "javascript:alert(1)" must be'],
    [{ OAUTH_USERS_TABLE: 'users; drop table x' }, 'OAUTH_USERS_TABLE: must be schema.table'],
    [{ OAUTH_USERS_EMAIL_COLUMN: 'email"' }, 'OAUTH_USERS_EMAIL_COLUMN: must be a lower-case SQL identifier'],
  ])('refuses %j', (env, expected) => {
    expect(problems({ ...BASE, ...env }).join('\n')).toContain(expected);
  });

  it('names every missing setting of an enabled SAML provider', () => {
    expect(problems({ ...BASE, OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_ENTRY_POINT: 'https://corp.okta.example/app/sso/saml' })).toEqual([
      'OAUTH_SAML_OKTA_IDP_CERT: is required',
      'OAUTH_SAML_OKTA_SP_PRIVATE_KEY: is required',
      'OAUTH_SAML_OKTA_SP_CERT: is required',
    ]);
  });

  it.each([
    [{ OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_ENTRY_POINT: 'javascript:x' }, 'OAUTH_SAML_OKTA_ENTRY_POINT: must be an http(s) URL'],
    [{ OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_IDP_CERT: 'not a pem' }, 'OAUTH_SAML_OKTA_IDP_CERT: must be a PEM certificate'],
    [{ OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_SP_PRIVATE_KEY: 'secret' }, 'OAUTH_SAML_OKTA_SP_PRIVATE_KEY: must be a PEM private key'],
    [{ OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_EMAIL_VERIFIED: 'maybe' }, 'OAUTH_SAML_OKTA_EMAIL_VERIFIED: must be true or false'],
    [{ OAUTH_SAML_PROVIDERS: 'okta', OAUTH_SAML_OKTA_ENTRYPOINT: 'https://x.example' }, 'OAUTH_SAML_OKTA_ENTRYPOINT: is not a SAML provider setting'],
    [{ OAUTH_SAML_ADFS_ENTRY_POINT: 'https://x.example' }, 'OAUTH_SAML_ADFS_ENTRY_POINT: names a provider that is not in OAUTH_SAML_PROVIDERS'],
    [{ OAUTH_PROVIDERS: 'google', OAUTH_SAML_PROVIDERS: 'google' }, 'OAUTH_SAML_PROVIDERS: "google" must be'],
    [{ OAUTH_NHOST_USER_PROVIDERS: 'true' }, 'OAUTH_NHOST_USER_PROVIDERS: needs OAUTH_USERS_TABLE=auth.users'],
  ])('refuses SAML and Nhost settings %j', (env, expected) => {
    expect(problems({ ...BASE, ...env }).join('\n')).toContain(expected);
  });

  it('refuses unreadable SAML certificates and keys at start, naming the setting', async () => {
    const good = await selfsigned.generate([{ name: 'commonName', value: 'sp' }], { keySize: 2048 } as never);
    const broken = (label: string) => `-----BEGIN ${label}-----\nbm90IGEga2V5\n-----END ${label}-----`;
    const saml = (over: Record<string, string>) =>
      config({
        OAUTH_SAML_PROVIDERS: 'okta',
        OAUTH_SAML_OKTA_ENTRY_POINT: 'https://idp.example.com/sso',
        OAUTH_SAML_OKTA_IDP_CERT: good.cert,
        OAUTH_SAML_OKTA_SP_CERT: good.cert,
        OAUTH_SAML_OKTA_SP_PRIVATE_KEY: good.private,
        ...over,
      });
    expect(buildProviders(saml({}), 'https://api.example.com').get('okta')?.kind).toBe('saml');
    expect(() => buildProviders(saml({ OAUTH_SAML_OKTA_IDP_CERT: broken('CERTIFICATE') }), 'https://api.example.com')).toThrow(/^OAUTH_SAML_OKTA_IDP_CERT: cannot be read/);
    expect(() => buildProviders(saml({ OAUTH_SAML_OKTA_SP_CERT: broken('CERTIFICATE') }), 'https://api.example.com')).toThrow(/^OAUTH_SAML_OKTA_SP_CERT: cannot be read/);
    expect(() => buildProviders(saml({ OAUTH_SAML_OKTA_SP_PRIVATE_KEY: broken('PRIVATE KEY') }), 'https://api.example.com')).toThrow(/^OAUTH_SAML_OKTA_SP_PRIVATE_KEY: cannot be read/);
  });

  it('declares every setting its install option asks for', () => {
    expect(installSpecProblems(oauthPlugin)).toEqual([]);
  });

  it('needs a signing key and an allow-list once a provider is on', () => {
    expect(problems({ PLUGINS_ENABLED: 'oauth', OAUTH_PROVIDERS: 'google', OAUTH_GOOGLE_CLIENT_ID: 'a', OAUTH_GOOGLE_CLIENT_SECRET: 'b' })).toEqual([
      'OAUTH_JWT_SECRET: is required',
      'OAUTH_REDIRECT_ALLOWLIST: is required',
    ]);
  });
});

describe('session keys', () => {
  const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const tokens = (keys: Awaited<ReturnType<typeof loadSessionKeys>>, claims = new ClaimsRegistry()) => {
    const cfg = config({});
    return new Tokens(cfg, keys, new UsersTable(cfg), claims);
  };
  const noDb = { query: async () => ({ rows: [], rowCount: 0 }) } as any;

  it('signs RS256 sessions that verify against the published JWKS, old keys included while they live out', async () => {
    const old = rsa();
    const keys = await loadSessionKeys(JSON.stringify({ type: 'RS256', key: rsa().replace(/\n/g, '\\n') }), JSON.stringify([{ type: 'RS256', key: old, kid: 'old' }]));
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual([keys.kid, 'old']);
    expect(keys.jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const jwt = await tokens(keys).accessToken({ id: 'u-1', email: null, role: null }, noDb);
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'RS256', kid: keys.kid });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(keys.jwks));
    expect(payload['https://hasura.io/jwt/claims']).toMatchObject({ 'x-hasura-user-id': 'u-1', 'x-hasura-default-role': 'user' });
    // Tokens signed by the previous key still verify after rotation.
    const before = await loadSessionKeys(JSON.stringify({ type: 'RS256', key: old, kid: 'old' }), undefined);
    const oldJwt = await tokens(before).accessToken({ id: 'u-2', email: null, role: null }, noDb);
    expect((await jwtVerify(oldJwt, createLocalJWKSet(keys.jwks))).payload.sub).toBe('u-2');
  });

  it('follows Hasura\'s claims_namespace, claims_format, issuer and audience', async () => {
    const keys = await loadSessionKeys(JSON.stringify({ type: 'ES256', key: ec(), claims_namespace: 'hasura', claims_format: 'stringified_json', issuer: 'https://auth.example.com', audience: 'app' }), undefined);
    const jwt = await tokens(keys).accessToken({ id: 'u-3', email: null, role: 'editor' }, noDb);
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(keys.jwks), { issuer: 'https://auth.example.com', audience: 'app' });
    expect(JSON.parse(payload.hasura as string)).toEqual({ 'x-hasura-user-id': 'u-3', 'x-hasura-default-role': 'editor', 'x-hasura-allowed-roles': ['editor', 'user', 'me'] });
  });

  it.each([
    ['not JSON', 'nope'],
    ['a short HMAC key', JSON.stringify({ type: 'HS256', key: 'short' })],
    ['an unknown type', JSON.stringify({ type: 'XS1', key: 'k'.repeat(40) })],
    ['a public key where a private one is needed', JSON.stringify({ type: 'RS256', key: 'not a pem' })],
  ])('refuses %s', async (_what, value) => {
    await expect(loadSessionKeys(value, undefined)).rejects.toBeInstanceOf(KeyConfigError);
  });

  it('adds the variables of claims hooks, and refuses hooks that touch the session\'s identity or roles', async () => {
    const keys = await loadSessionKeys(BASE.OAUTH_JWT_SECRET, undefined);
    const claims = new ClaimsRegistry();
    claims.register('stripe', async (user) => ({ 'X-Hasura-Plan': user.id === 'u-4' ? 'pro' : 'free' }));
    const jwt = await tokens(keys, claims).accessToken({ id: 'u-4', email: null, role: null }, noDb);
    const { payload } = await jwtVerify(jwt, new TextEncoder().encode('k'.repeat(32)));
    expect(payload['https://hasura.io/jwt/claims']).toMatchObject({ 'x-hasura-plan': 'pro', 'x-hasura-user-id': 'u-4' });

    const greedy = new ClaimsRegistry();
    greedy.register('greedy', () => ({ 'x-hasura-allowed-roles': ['admin'] }));
    await expect(tokens(keys, greedy).accessToken({ id: 'u-5', email: null, role: null }, noDb)).rejects.toThrow(/set by the oauth plugin/);
    const odd = new ClaimsRegistry();
    odd.register('odd', () => ({ plan: 'x' }));
    await expect(tokens(keys, odd).accessToken({ id: 'u-5', email: null, role: null }, noDb)).rejects.toThrow(/must start with x-hasura-/);
    expect(() => claims.register('stripe', () => ({}))).toThrow(/twice/);
  });
});

const LONG_TARGET = `https://app.example.com/auth/${'a'.repeat(3000)}`;

describe('redirect allow-list', () => {
  const allow = parseAllowList(['https://app.example.com/auth/', 'http://localhost:3000']);
  it.each([
    ['https://app.example.com/auth/', true],
    ['https://app.example.com/auth/done?next=1', true],
    ['http://localhost:3000/anything', true],
    ['https://APP.example.com/auth/x', true],
    ['https://app.example.com/', false],
    ['https://app.example.com/auth', false],
    ['https://app.example.com/authz', false],
    ['//evil.example', false],
    ['javascript:alert(1)', false],
    ['https://app.example.com.evil.com/auth/', false],
    ['https://app.example.com%2F@evil.com/auth/', false],
    ['https://app.example.com:444/auth/', false],
    ['https://app.example.com/auth/%2e%2e/admin', false],
    ['https://app.example.com/auth/%2F%2Fevil.example', false],
    ['https://app.example.com/auth/\tx', false],
    [' https://app.example.com/auth/', false],
    ['/auth/', false],
    [LONG_TARGET, false],
  ])('%#: %s → %s', (target, ok) => {
    expect(isAllowedRedirect(target, allow)).toBe(ok);
  });
});
