/**
 * The providers an operator switched on, each an OAuth 2.0 / OpenID Connect client through `openid-client`:
 * discovery, PKCE S256, state, nonce and id_token validation (signature included, through the provider's
 * JWKS) are the library's; what is left here is each provider's endpoints and profile quirks.
 */
import { SignJWT } from 'jose';
import { createPrivateKey } from 'node:crypto';
import type * as client from 'openid-client';
import { openidClient } from './openid.js';
import { BUILT_IN_PROVIDERS, oidcVariable, type BuiltInProvider, type OAuthConfig } from '../config.js';
import { normalize, truthy, type Profile } from './profile.js';
import { samlProvider, type SamlProvider } from './saml.js';

export interface CallbackInput {
  /** The callback URL as the provider called it (query for GET; form fields appended for POST). */
  url: URL;
  /** Form fields of a POST callback (Apple sends `user` there on the first sign-in only). */
  form: Record<string, string>;
}

export interface ProviderInfo {
  id: string;
  displayName: string;
  kind: 'oidc' | 'oauth2' | 'saml';
}

/** An OAuth 2.0 or OpenID Connect provider. */
export interface OAuthProvider extends ProviderInfo {
  kind: 'oidc' | 'oauth2';
  scope: string;
  /** Apple posts the result (form_post): the callback must accept POST. */
  formPost: boolean;
  configuration(): Promise<client.Configuration>;
  /** The profile from the token response (and the provider's APIs). */
  profile(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, cb: CallbackInput, config: client.Configuration): Promise<Profile>;
}

export type Provider = OAuthProvider | SamlProvider;

const DISPLAY: Record<BuiltInProvider, string> = {
  google: 'Google',
  github: 'GitHub',
  microsoft: 'Microsoft',
  apple: 'Apple',
  discord: 'Discord',
  gitlab: 'GitLab',
  slack: 'Slack',
};

/** Plain http is only for providers on this machine or a private network (tests, a local Keycloak). */
const insecure = (oc: typeof client, url: string) => (url.startsWith('http:') ? [oc.allowInsecureRequests] : []);

/** Discovery once per process, retried on the next sign-in when the provider was unreachable. */
function lazy(make: () => Promise<client.Configuration>): () => Promise<client.Configuration> {
  let pending: Promise<client.Configuration> | undefined;
  return () => {
    pending ??= make().catch((e) => {
      pending = undefined;
      throw e;
    });
    return pending;
  };
}

/** `rewrite`: requests for `from…` go to `to…` instead (a national cloud, or a test double of the provider). */
function discover(issuer: string, clientId: string, secret: string | undefined, auth?: client.ClientAuth, rewrite?: { from: string; to: string }): () => Promise<client.Configuration> {
  return lazy(async () => {
    const client = await openidClient();
    const target = rewrite ? issuer.replace(rewrite.from, rewrite.to) : issuer;
    const config = await client.discovery(new URL(issuer), clientId, secret ? { client_secret: secret } : undefined, auth ?? (secret ? client.ClientSecretPost(secret) : client.None()), {
      execute: [...insecure(client, target), client.enableNonRepudiationChecks],
      ...(rewrite
        ? { [client.customFetch]: (url: string, init: client.CustomFetchOptions) => fetch(url.startsWith(rewrite.from) ? rewrite.to + url.slice(rewrite.from.length) : url, init as RequestInit) }
        : {}),
    });
    return config;
  });
}

function fixed(metadata: client.ServerMetadata, clientId: string, secret: string): () => Promise<client.Configuration> {
  return lazy(async () => {
    const client = await openidClient();
    const config = new client.Configuration(metadata, clientId, { client_secret: secret }, client.ClientSecretPost(secret));
    if (metadata.token_endpoint?.startsWith('http:')) client.allowInsecureRequests(config);
    return config;
  });
}

const idClaims = (tokens: client.TokenEndpointResponseHelpers) => {
  const c = tokens.claims();
  if (!c) throw new Error('the provider returned no id_token');
  return c;
};

async function getJson(url: string, accessToken: string, extra: Record<string, string> = {}): Promise<any> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', ...extra }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${new URL(url).pathname} answered ${res.status}`);
  return res.json();
}

function standardOidc(id: string, displayName: string, scope: string, configuration: () => Promise<client.Configuration>): OAuthProvider {
  return {
    id,
    displayName,
    kind: 'oidc',
    scope,
    formPost: false,
    configuration,
    async profile(tokens, _cb, config) {
      const c = idClaims(tokens);
      let info: Record<string, unknown> = c;
      // Some providers keep email and name out of the id_token: ask the userinfo endpoint, for the same subject.
      if (c.email === undefined && config.serverMetadata().userinfo_endpoint) {
        info = { ...(await (await openidClient()).fetchUserInfo(config, tokens.access_token, c.sub)), ...c };
      }
      return normalize(id, { id: c.sub, email: info.email, emailVerified: info.email_verified, name: info.name, avatarUrl: info.picture, locale: info.locale });
    },
  };
}

function github(cfg: OAuthConfig): OAuthProvider {
  const web = cfg.OAUTH_GITHUB_URL;
  const api = cfg.OAUTH_GITHUB_API_URL;
  return {
    id: 'github',
    displayName: DISPLAY.github,
    kind: 'oauth2',
    scope: 'read:user user:email',
    formPost: false,
    configuration: fixed(
      { issuer: web, authorization_endpoint: `${web}/login/oauth/authorize`, token_endpoint: `${web}/login/oauth/access_token` },
      cfg.OAUTH_GITHUB_CLIENT_ID!,
      cfg.OAUTH_GITHUB_CLIENT_SECRET!,
    ),
    async profile(tokens) {
      // GitHub's REST API refuses requests without a User-Agent, and /user shows only the public email:
      // the verified primary address comes from /user/emails.
      const headers = { 'user-agent': 'nself-plugins-oauth', 'x-github-api-version': '2022-11-28' };
      const user = await getJson(`${api}/user`, tokens.access_token, headers);
      const emails = (await getJson(`${api}/user/emails`, tokens.access_token, headers)) as Array<{ email: string; primary: boolean; verified: boolean }>;
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary && e.verified) ?? emails.find((e) => e.verified) : undefined;
      return normalize('github', { id: user.id, email: primary?.email ?? null, emailVerified: !!primary, name: user.name ?? user.login, avatarUrl: user.avatar_url });
    },
  };
}

function discord(cfg: OAuthConfig): OAuthProvider {
  const base = cfg.OAUTH_DISCORD_URL;
  return {
    id: 'discord',
    displayName: DISPLAY.discord,
    kind: 'oauth2',
    scope: 'identify email',
    formPost: false,
    configuration: fixed(
      { issuer: base, authorization_endpoint: `${base}/oauth2/authorize`, token_endpoint: `${base}/api/oauth2/token` },
      cfg.OAUTH_DISCORD_CLIENT_ID!,
      cfg.OAUTH_DISCORD_CLIENT_SECRET!,
    ),
    async profile(tokens) {
      const u = await getJson(`${base}/api/users/@me`, tokens.access_token);
      const avatar = typeof u.avatar === 'string' && /^[a-z0-9_]+$/i.test(u.avatar) && /^\d+$/.test(String(u.id)) ? `https://cdn.discordapp.com/avatars/${u.id}/${u.avatar}.png` : null;
      return normalize('discord', { id: u.id, email: u.email, emailVerified: u.verified, name: u.global_name ?? u.username, avatarUrl: avatar, locale: u.locale });
    },
  };
}

const ENTRA = 'https://login.microsoftonline.com';

function microsoft(cfg: OAuthConfig): OAuthProvider {
  // Discovery is addressed to Entra's public authority, where openid-client recognizes Entra and checks each
  // id_token's iss against the tenant-templated issuer; the requests themselves go to OAUTH_MICROSOFT_AUTHORITY.
  const issuer = `${ENTRA}/${cfg.OAUTH_MICROSOFT_TENANT}/v2.0`;
  const rewrite = cfg.OAUTH_MICROSOFT_AUTHORITY === ENTRA ? undefined : { from: ENTRA, to: cfg.OAUTH_MICROSOFT_AUTHORITY };
  return {
    id: 'microsoft',
    displayName: DISPLAY.microsoft,
    kind: 'oidc',
    scope: 'openid email profile',
    formPost: false,
    // For common/organizations/consumers the discovered issuer is a template ({tenantid}); openid-client
    // checks each id_token's iss against the template filled with the token's own tid.
    configuration: discover(issuer, cfg.OAUTH_MICROSOFT_CLIENT_ID!, cfg.OAUTH_MICROSOFT_CLIENT_SECRET, undefined, rewrite),
    async profile(tokens) {
      const c = idClaims(tokens);
      // Entra ID's email claim is whatever a tenant admin typed: it proves nothing unless the tenant verified
      // the domain (xms_edov), so it never links accounts by itself.
      const verified = truthy(c.xms_edov);
      const sub = typeof c.tid === 'string' && typeof c.oid === 'string' ? `${c.tid}:${c.oid}` : c.sub;
      return normalize('microsoft', { id: sub, email: c.email ?? c.preferred_username, emailVerified: verified, name: c.name, locale: c.locale });
    },
  };
}

function apple(cfg: OAuthConfig): OAuthProvider {
  const base = cfg.OAUTH_APPLE_URL;
  const key = createPrivateKey(cfg.OAUTH_APPLE_PRIVATE_KEY!.replace(/\\n/g, '\n'));
  let cached: { secret: string; until: number } | undefined;
  // Apple's client secret is an ES256 JWT we sign (at most six months valid); one an hour is plenty.
  const clientSecret = async () => {
    const now = Math.floor(Date.now() / 1000);
    if (!cached || cached.until < now + 60) {
      const secret = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: cfg.OAUTH_APPLE_KEY_ID! })
        .setIssuer(cfg.OAUTH_APPLE_TEAM_ID!)
        .setSubject(cfg.OAUTH_APPLE_CLIENT_ID!)
        .setAudience(base)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(key);
      cached = { secret, until: now + 3600 };
    }
    return cached.secret;
  };
  const auth: client.ClientAuth = async (as, c, body, headers) => (await openidClient()).ClientSecretPost(await clientSecret())(as, c, body, headers);
  return {
    id: 'apple',
    displayName: DISPLAY.apple,
    kind: 'oidc',
    scope: 'openid email name',
    formPost: true,
    configuration: discover(base, cfg.OAUTH_APPLE_CLIENT_ID!, undefined, auth),
    async profile(tokens, cb) {
      const c = idClaims(tokens);
      // The name comes once, on the first authorization, as a form field beside the code; never in the id_token.
      let name: string | null = null;
      if (cb.form.user) {
        try {
          const u = JSON.parse(cb.form.user) as { name?: { firstName?: string; lastName?: string } };
          name = [u.name?.firstName, u.name?.lastName].filter((s) => typeof s === 'string' && s).join(' ') || null;
        } catch {
          name = null;
        }
      }
      return normalize('apple', { id: c.sub, email: c.email, emailVerified: c.email_verified, name });
    },
  };
}

export function buildProviders(cfg: OAuthConfig, publicUrl: string): Map<string, Provider> {
  const out = new Map<string, Provider>();
  for (const id of cfg.OAUTH_PROVIDERS as BuiltInProvider[]) {
    if (!(BUILT_IN_PROVIDERS as readonly string[]).includes(id)) continue;
    switch (id) {
      case 'google':
        out.set(id, standardOidc(id, DISPLAY.google, 'openid email profile', discover(cfg.OAUTH_GOOGLE_ISSUER, cfg.OAUTH_GOOGLE_CLIENT_ID!, cfg.OAUTH_GOOGLE_CLIENT_SECRET)));
        break;
      case 'gitlab':
        out.set(id, standardOidc(id, DISPLAY.gitlab, 'openid email profile', discover(cfg.OAUTH_GITLAB_URL, cfg.OAUTH_GITLAB_CLIENT_ID!, cfg.OAUTH_GITLAB_CLIENT_SECRET)));
        break;
      case 'slack':
        out.set(id, standardOidc(id, DISPLAY.slack, 'openid email profile', discover(cfg.OAUTH_SLACK_ISSUER, cfg.OAUTH_SLACK_CLIENT_ID!, cfg.OAUTH_SLACK_CLIENT_SECRET)));
        break;
      case 'github':
        out.set(id, github(cfg));
        break;
      case 'discord':
        out.set(id, discord(cfg));
        break;
      case 'microsoft':
        out.set(id, microsoft(cfg));
        break;
      case 'apple':
        out.set(id, apple(cfg));
        break;
    }
  }
  for (const name of cfg.OAUTH_OIDC_PROVIDERS) {
    const issuer = cfg[oidcVariable(name, 'ISSUER')]!;
    const scope = cfg[oidcVariable(name, 'SCOPES')] ?? 'openid email profile';
    const display = cfg[oidcVariable(name, 'DISPLAY_NAME')] ?? name;
    out.set(name, standardOidc(name, display, scope, discover(issuer, cfg[oidcVariable(name, 'CLIENT_ID')]!, cfg[oidcVariable(name, 'CLIENT_SECRET')])));
  }
  for (const name of cfg.OAUTH_SAML_PROVIDERS) out.set(name, samlProvider(cfg, publicUrl, name, cfg.OAUTH_STATE_TTL_SECONDS));
  return out;
}
