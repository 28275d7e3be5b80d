import { z } from 'zod';
import { secret, withDynamicSettings } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** `true`/`false`/`1`/`0`/`yes`/`no` (`z.coerce.boolean()` would read "false" as true). */
const flag = (def: boolean, description: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .describe(description);

const list = (description: string, def = '') =>
  z
    .string()
    .default(def)
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .describe(description);

const url = (def: string, description: string) =>
  z
    .string()
    .default(def)
    .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), { message: 'must be an http(s) URL' })
    .transform((v) => v.replace(/\/+$/, ''))
    .describe(description);

const optionalSecret = (description: string) => secret(z.string().min(1)).optional().describe(description);

export const BUILT_IN_PROVIDERS = ['google', 'github', 'microsoft', 'apple', 'discord', 'gitlab', 'slack'] as const;
export type BuiltInProvider = (typeof BUILT_IN_PROVIDERS)[number];

/** Generic provider names: they become route segments and env variable parts. */
export const PROVIDER_NAME = /^[a-z][a-z0-9]{0,31}$/;
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const identifier = (def: string, description: string) =>
  z.string().default(def).refine((v) => SQL_IDENTIFIER.test(v), { message: 'must be a lower-case SQL identifier' }).describe(description);
const optionalColumn = (def: string, description: string) =>
  z.string().default(def).refine((v) => v === '' || SQL_IDENTIFIER.test(v), { message: 'must be a lower-case SQL identifier, or empty for none' }).describe(description);

/** Settings each enabled built-in provider needs: a missing one is a boot error naming it. */
export const REQUIRED_BY_PROVIDER: Record<BuiltInProvider, string[]> = {
  google: ['OAUTH_GOOGLE_CLIENT_ID', 'OAUTH_GOOGLE_CLIENT_SECRET'],
  github: ['OAUTH_GITHUB_CLIENT_ID', 'OAUTH_GITHUB_CLIENT_SECRET'],
  microsoft: ['OAUTH_MICROSOFT_CLIENT_ID', 'OAUTH_MICROSOFT_CLIENT_SECRET'],
  apple: ['OAUTH_APPLE_CLIENT_ID', 'OAUTH_APPLE_TEAM_ID', 'OAUTH_APPLE_KEY_ID', 'OAUTH_APPLE_PRIVATE_KEY'],
  discord: ['OAUTH_DISCORD_CLIENT_ID', 'OAUTH_DISCORD_CLIENT_SECRET'],
  gitlab: ['OAUTH_GITLAB_CLIENT_ID', 'OAUTH_GITLAB_CLIENT_SECRET'],
  slack: ['OAUTH_SLACK_CLIENT_ID', 'OAUTH_SLACK_CLIENT_SECRET'],
};

/** Per generic OpenID Connect provider `<NAME>` listed in OAUTH_OIDC_PROVIDERS. */
export const oidcVariable = (name: string, what: 'ISSUER' | 'CLIENT_ID' | 'CLIENT_SECRET' | 'SCOPES' | 'DISPLAY_NAME') =>
  `OAUTH_OIDC_${name.toUpperCase()}_${what}`;

/** Per SAML 2.0 identity provider `<NAME>` listed in OAUTH_SAML_PROVIDERS. */
export const SAML_SETTINGS = {
  ENTRY_POINT: { required: true, about: "the IdP's single sign-on URL (HTTP-Redirect binding)" },
  IDP_CERT: { required: true, about: "the IdP's signing certificate (PEM; several PEM blocks while the IdP rotates; \\n escapes accepted)" },
  SP_PRIVATE_KEY: { required: true, about: 'the private key (PKCS#8 or RSA PEM) that signs the AuthnRequests' },
  SP_CERT: { required: true, about: 'the certificate of that key, published in the metadata for the IdP' },
  IDP_ISSUER: { required: false, about: "the IdP's entity ID: when set, assertions from another issuer are refused" },
  SP_ENTITY_ID: { required: false, about: 'this service provider\'s entity ID and the expected audience (default <PUBLIC_URL>/hooks/oauth/<name>/metadata)' },
  ID_ATTRIBUTE: { required: false, about: 'attribute holding the stable user id (default: the NameID; needed when the IdP sends transient NameIDs)' },
  EMAIL_ATTRIBUTE: { required: false, about: 'attribute holding the email (default: email, mail or the emailaddress claim, else an emailAddress NameID)' },
  NAME_ATTRIBUTE: { required: false, about: 'attribute holding the display name (default: displayName, name, cn or the name claim)' },
  EMAIL_VERIFIED: { required: false, about: 'true when this IdP vouches for its users\' emails, so a first sign-in may join the user with that verified email (default false)' },
  NAME_ID_FORMAT: { required: false, about: 'NameIDPolicy Format asked for, e.g. urn:oasis:names:tc:SAML:2.0:nameid-format:persistent (default: the IdP\'s choice)' },
  DISPLAY_NAME: { required: false, about: 'the sign-in button label (default: the name)' },
} as const;
export type SamlSetting = keyof typeof SAML_SETTINGS;
export const samlVariable = (name: string, what: SamlSetting) => `OAUTH_SAML_${name.toUpperCase()}_${what}`;

const declared = z.object({
  OAUTH_PROVIDERS: list(`Built-in providers switched on, comma-separated: ${BUILT_IN_PROVIDERS.join(', ')}. Each needs its OAUTH_<PROVIDER>_* credentials.`),
  OAUTH_OIDC_PROVIDERS: list(
    'Generic OpenID Connect providers by a name of your choice (a-z, 0-9; Keycloak, Auth0, Okta, ID.me…), comma-separated. ' +
      'Each <NAME> needs OAUTH_OIDC_<NAME>_ISSUER (discovery at <issuer>/.well-known/openid-configuration), OAUTH_OIDC_<NAME>_CLIENT_ID ' +
      'and OAUTH_OIDC_<NAME>_CLIENT_SECRET (leave it out for a public client: PKCE only); optional OAUTH_OIDC_<NAME>_SCOPES (default "openid email profile") ' +
      'and OAUTH_OIDC_<NAME>_DISPLAY_NAME.',
  ),
  OAUTH_SAML_PROVIDERS: list(
    'SAML 2.0 identity providers by a name of your choice (a-z, 0-9; Okta, Entra ID, ADFS, Keycloak…), comma-separated. Each <NAME> needs ' +
      Object.entries(SAML_SETTINGS)
        .filter(([, s]) => s.required)
        .map(([k, s]) => `OAUTH_SAML_<NAME>_${k} (${s.about})`)
        .join(', ') +
      '; optional: ' +
      Object.entries(SAML_SETTINGS)
        .filter(([, s]) => !s.required)
        .map(([k, s]) => `OAUTH_SAML_<NAME>_${k} (${s.about})`)
        .join(', ') +
      '. The IdP is given <PUBLIC_URL>/hooks/oauth/<name>/metadata.',
  ),
  OAUTH_GOOGLE_CLIENT_ID: z.string().optional().describe('Google OAuth client id.'),
  OAUTH_GOOGLE_CLIENT_SECRET: optionalSecret('Google OAuth client secret.'),
  OAUTH_GOOGLE_ISSUER: url('https://accounts.google.com', 'Google\'s OpenID issuer (discovery and id_token iss).'),
  OAUTH_GITHUB_CLIENT_ID: z.string().optional().describe('GitHub OAuth app client id.'),
  OAUTH_GITHUB_CLIENT_SECRET: optionalSecret('GitHub OAuth app client secret.'),
  OAUTH_GITHUB_URL: url('https://github.com', 'GitHub web URL (GitHub Enterprise Server: https://github.example.com).'),
  OAUTH_GITHUB_API_URL: url('https://api.github.com', 'GitHub REST API URL (GitHub Enterprise Server: https://github.example.com/api/v3).'),
  OAUTH_MICROSOFT_CLIENT_ID: z.string().optional().describe('Microsoft Entra ID application (client) id.'),
  OAUTH_MICROSOFT_CLIENT_SECRET: optionalSecret('Microsoft Entra ID client secret.'),
  OAUTH_MICROSOFT_TENANT: z
    .string()
    .default('common')
    .refine((v) => /^[A-Za-z0-9.-]{1,100}$/.test(v), { message: 'must be a tenant id, a domain, common, organizations or consumers' })
    .describe('Tenant: common (any account), organizations, consumers, or one tenant id or domain.'),
  OAUTH_MICROSOFT_AUTHORITY: url('https://login.microsoftonline.com', 'Microsoft login authority (national clouds: https://login.microsoftonline.us, …).'),
  OAUTH_APPLE_CLIENT_ID: z.string().optional().describe('Apple Services ID used for Sign in with Apple on the web.'),
  OAUTH_APPLE_TEAM_ID: z.string().optional().describe('Apple developer team id (the client secret JWT\'s iss).'),
  OAUTH_APPLE_KEY_ID: z.string().optional().describe('Key id of the Sign in with Apple private key (the client secret JWT\'s kid).'),
  OAUTH_APPLE_PRIVATE_KEY: optionalSecret('Sign in with Apple private key (PKCS#8 PEM, the .p8 file; \\n escapes accepted): signs the ES256 client secret.'),
  OAUTH_APPLE_URL: url('https://appleid.apple.com', 'Apple\'s identity service (issuer, authorize, token and keys endpoints).'),
  OAUTH_DISCORD_CLIENT_ID: z.string().optional().describe('Discord application client id.'),
  OAUTH_DISCORD_CLIENT_SECRET: optionalSecret('Discord application client secret.'),
  OAUTH_DISCORD_URL: url('https://discord.com', 'Discord web and API URL.'),
  OAUTH_GITLAB_CLIENT_ID: z.string().optional().describe('GitLab application id.'),
  OAUTH_GITLAB_CLIENT_SECRET: optionalSecret('GitLab application secret.'),
  OAUTH_GITLAB_URL: url('https://gitlab.com', 'GitLab instance URL (its OpenID issuer); self-managed: https://gitlab.example.com.'),
  OAUTH_SLACK_CLIENT_ID: z.string().optional().describe('Slack app client id (Sign in with Slack, OpenID Connect).'),
  OAUTH_SLACK_CLIENT_SECRET: optionalSecret('Slack app client secret.'),
  OAUTH_SLACK_ISSUER: url('https://slack.com', 'Slack\'s OpenID issuer.'),

  OAUTH_JWT_SECRET: secret(z.string().min(1))
    .optional()
    .describe(
      'Signing key of the Hasura sessions, in HASURA_GRAPHQL_JWT_SECRET\'s format: {"type":"HS256","key":"<32+ chars>"} (give Hasura the same value), ' +
        'or {"type":"RS256"|"ES256","key":"<PKCS#8 private key PEM>","kid":"…"} (give Hasura {"jwk_url":"<PUBLIC_URL>/hooks/oauth/jwks.json"}). ' +
        'Optional claims_namespace, claims_format (json|stringified_json), issuer and audience as in Hasura. Required when a provider is on.',
    ),
  OAUTH_JWT_PREVIOUS_KEYS: secret(z.string())
    .optional()
    .describe('JSON array of earlier RS256/ES256 keys ({type, key, kid}) still published in the JWKS while their tokens live out: rotate by moving the current key here.'),
  OAUTH_ACCESS_TOKEN_TTL_SECONDS: int(60, 86_400, 900, 'Lifetime of an access token (the Hasura JWT).'),
  OAUTH_REFRESH_TOKEN_TTL_DAYS: int(1, 365, 30, 'Lifetime of a refresh token; each use rotates it.'),
  OAUTH_STATE_TTL_SECONDS: int(60, 3600, 600, 'How long a sign-in may take from oauthStart to the provider\'s callback.'),
  OAUTH_CODE_TTL_SECONDS: int(10, 600, 60, 'Lifetime of the one-time code the callback hands to the app.'),
  OAUTH_REDIRECT_ALLOWLIST: list(
    'Where the callback may send the browser back, comma-separated: exact origins (https://app.example.com) or origin + path prefix (https://app.example.com/auth/). Nothing else is accepted.',
  ),
  OAUTH_DEFAULT_ROLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('user').describe('x-hasura-default-role of a new session (a users table role column overrides it).'),
  OAUTH_ALLOWED_ROLES: list('x-hasura-allowed-roles of a session, comma-separated (the default role is always added).', 'user,me'),
  OAUTH_USERS_TABLE: z
    .string()
    .default('oauth.user')
    .refine((v) => /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(v), { message: 'must be schema.table' })
    .describe('Users table, schema.table: oauth.user (this plugin\'s), auth.users (Nhost Auth) or your own. Needs a uuid id with a default.'),
  OAUTH_USERS_ID_COLUMN: identifier('id', 'Users table: primary key column (uuid, with a default).'),
  OAUTH_USERS_EMAIL_COLUMN: optionalColumn('email', 'Users table: email column (empty: none).'),
  OAUTH_USERS_EMAIL_VERIFIED_COLUMN: optionalColumn('email_verified', 'Users table: boolean email-verified column (empty: none).'),
  OAUTH_USERS_NAME_COLUMN: optionalColumn('display_name', 'Users table: display name column (empty: none).'),
  OAUTH_USERS_AVATAR_COLUMN: optionalColumn('avatar_url', 'Users table: avatar URL column (empty: none).'),
  OAUTH_USERS_LOCALE_COLUMN: optionalColumn('locale', 'Users table: locale column (empty: none).'),
  OAUTH_USERS_ROLE_COLUMN: optionalColumn('default_role', 'Users table: default role column read into x-hasura-default-role (empty: OAUTH_DEFAULT_ROLE for everyone).'),
  OAUTH_LINK_VERIFIED_EMAIL: flag(
    true,
    'A first sign-in whose provider vouches for the email (email_verified) joins the existing user with that email. Unverified emails never do: they get a new user.',
  ),
  OAUTH_SIGN_UP: flag(true, 'Create users on first sign-in; false: only existing users (found by a linked identity or a verified email) sign in.'),
  OAUTH_TRUST_PROXY_HEADERS: flag(false, 'Read the client IP for the audit log from X-Forwarded-For (behind a proxy you run).'),
  OAUTH_NHOST_USER_PROVIDERS: flag(
    false,
    'Also keep Nhost Auth\'s auth.user_providers in step (a row per linked provider account, removed on unlink), and sign in the users it already links. Needs OAUTH_USERS_TABLE=auth.users.',
  ),
});

const DYNAMIC_PREFIX = 'OAUTH_OIDC_';
const SAML_PREFIX = 'OAUTH_SAML_';
const isHttpUrl = (v: unknown) => typeof v === 'string' && /^https?:\/\//.test(v) && URL.canParse(v);
const BOOLEAN = ['true', 'false', '1', '0', 'yes', 'no'];

/** Settings of the oauth plugin (apart from the manifest so handlers and lib name the type without a cycle). */
export const oauthConfig = withDynamicSettings(
  [DYNAMIC_PREFIX, SAML_PREFIX],
  declared.catchall(z.string()).superRefine((c, ctx) => {
    const env = c as Record<string, unknown>;
    const need = (variable: string) => {
      if (env[variable] === undefined) ctx.addIssue({ code: 'custom', path: [variable], message: 'is required' });
    };
    for (const p of c.OAUTH_PROVIDERS) {
      if (!(BUILT_IN_PROVIDERS as readonly string[]).includes(p)) {
        ctx.addIssue({ code: 'custom', path: ['OAUTH_PROVIDERS'], message: `unknown provider "${p}" (built-in: ${BUILT_IN_PROVIDERS.join(', ')}; others go in OAUTH_OIDC_PROVIDERS)` });
        continue;
      }
      for (const v of REQUIRED_BY_PROVIDER[p as BuiltInProvider]) need(v);
    }
    const seen = new Set<string>(c.OAUTH_PROVIDERS);
    for (const name of c.OAUTH_OIDC_PROVIDERS) {
      if (!PROVIDER_NAME.test(name) || seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['OAUTH_OIDC_PROVIDERS'], message: `"${name}" must be a-z then a-z/0-9 (up to 32) and not repeat another provider's name` });
        continue;
      }
      seen.add(name);
      need(oidcVariable(name, 'ISSUER'));
      need(oidcVariable(name, 'CLIENT_ID'));
      const issuer = env[oidcVariable(name, 'ISSUER')];
      if (typeof issuer === 'string' && !(/^https?:\/\//.test(issuer) && URL.canParse(issuer))) {
        ctx.addIssue({ code: 'custom', path: [oidcVariable(name, 'ISSUER')], message: 'must be an http(s) URL' });
      }
    }
    const samlNames: string[] = [];
    for (const name of c.OAUTH_SAML_PROVIDERS) {
      if (!PROVIDER_NAME.test(name) || seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['OAUTH_SAML_PROVIDERS'], message: `"${name}" must be a-z then a-z/0-9 (up to 32) and not repeat another provider's name` });
        continue;
      }
      seen.add(name);
      samlNames.push(name);
      for (const [what, spec] of Object.entries(SAML_SETTINGS)) if (spec.required) need(samlVariable(name, what as SamlSetting));
      const entry = env[samlVariable(name, 'ENTRY_POINT')];
      if (entry !== undefined && !isHttpUrl(entry)) ctx.addIssue({ code: 'custom', path: [samlVariable(name, 'ENTRY_POINT')], message: 'must be an http(s) URL' });
      const verified = env[samlVariable(name, 'EMAIL_VERIFIED')];
      if (verified !== undefined && !BOOLEAN.includes(String(verified))) ctx.addIssue({ code: 'custom', path: [samlVariable(name, 'EMAIL_VERIFIED')], message: 'must be true or false' });
      for (const what of ['IDP_CERT', 'SP_CERT'] as const) {
        const pem = env[samlVariable(name, what)];
        if (typeof pem === 'string' && !pem.includes('-----BEGIN CERTIFICATE-----')) ctx.addIssue({ code: 'custom', path: [samlVariable(name, what)], message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)' });
      }
      const key = env[samlVariable(name, 'SP_PRIVATE_KEY')];
      if (typeof key === 'string' && !/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(key)) ctx.addIssue({ code: 'custom', path: [samlVariable(name, 'SP_PRIVATE_KEY')], message: 'must be a PEM private key' });
    }
    const dynamic: Array<[string, string[], string]> = [
      [DYNAMIC_PREFIX, c.OAUTH_OIDC_PROVIDERS, 'OAUTH_OIDC_PROVIDERS'],
      [SAML_PREFIX, samlNames, 'OAUTH_SAML_PROVIDERS'],
    ];
    for (const [prefix, names, list] of dynamic) {
      const known = names.map((n) => `${prefix}${n.toUpperCase()}_`);
      for (const key of Object.keys(env)) {
        if (key.startsWith(prefix) && !(key in declared.shape) && !known.some((k) => key.startsWith(k))) {
          ctx.addIssue({ code: 'custom', path: [key], message: `names a provider that is not in ${list}` });
        }
      }
      if (prefix === SAML_PREFIX) {
        for (const key of Object.keys(env)) {
          const owner = known.find((k) => key.startsWith(k));
          if (owner && !(key.slice(owner.length) in SAML_SETTINGS)) ctx.addIssue({ code: 'custom', path: [key], message: `is not a SAML provider setting (${Object.keys(SAML_SETTINGS).join(', ')})` });
        }
      }
    }
    if (c.OAUTH_NHOST_USER_PROVIDERS && c.OAUTH_USERS_TABLE !== 'auth.users') {
      ctx.addIssue({ code: 'custom', path: ['OAUTH_NHOST_USER_PROVIDERS'], message: 'needs OAUTH_USERS_TABLE=auth.users (Nhost Auth\'s users)' });
    }
    if (seen.size > 0) {
      need('OAUTH_JWT_SECRET');
      if (c.OAUTH_REDIRECT_ALLOWLIST.length === 0) ctx.addIssue({ code: 'custom', path: ['OAUTH_REDIRECT_ALLOWLIST'], message: 'is required' });
    }
    for (const entry of c.OAUTH_REDIRECT_ALLOWLIST) {
      let u: URL | undefined;
      try {
        u = new URL(entry);
      } catch {
        u = undefined;
      }
      if (!u || !['http:', 'https:'].includes(u.protocol) || u.username || u.password || u.search || u.hash) {
        ctx.addIssue({ code: 'custom', path: ['OAUTH_REDIRECT_ALLOWLIST'], message: `"${entry}" must be an http(s) origin, optionally with a path prefix` });
      }
    }
  }),
);

export type OAuthConfig = z.infer<typeof declared> & Record<string, string | undefined>;
