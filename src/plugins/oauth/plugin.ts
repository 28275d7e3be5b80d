import express from 'express';
import { definePlugin, type TableSpec } from '../../core/plugin.js';
import { BUILT_IN_PROVIDERS, oauthConfig, REQUIRED_BY_PROVIDER, type BuiltInProvider, type OAuthConfig } from './config.js';
import { oauthClaims } from './lib/claims.js';
import { handleCallback, handleStart } from './lib/flow.js';
import { oauthCore } from './lib/service.js';
import { oauthProviders } from '../../../actions/oauth/oauth-providers.js';
import { oauthStart } from '../../../actions/oauth/oauth-start.js';
import { oauthExchangeCode } from '../../../actions/oauth/oauth-exchange-code.js';
import { oauthRefresh } from '../../../actions/oauth/oauth-refresh.js';
import { oauthSignOut } from '../../../actions/oauth/oauth-sign-out.js';
import { oauthIdentities } from '../../../actions/oauth/oauth-identities.js';
import { oauthUnlink } from '../../../actions/oauth/oauth-unlink.js';
import { oauthExpiredPrune } from '../../../cron-triggers/oauth/oauth-expired-prune.js';

const ME = 'X-Hasura-User-Id';
const t = (name: string) => ({ schema: 'oauth', name });
const USER_COLUMNS = ['id', 'email', 'email_verified', 'display_name', 'avatar_url', 'locale', 'default_role', 'created_at'];
const IDENTITY_COLUMNS = ['id', 'user_id', 'provider', 'email', 'email_verified', 'name', 'avatar_url', 'locale', 'created_at', 'last_sign_in_at'];
const SIGN_IN_COLUMNS = ['id', 'user_id', 'provider', 'outcome', 'reason', 'ip', 'user_agent', 'created_at'];
const service = (columns: string[]) => ({ role: 'service', permission: { columns, filter: {}, allow_aggregations: true } });

const tables: TableSpec[] = [
  {
    table: t('user'),
    configuration: { custom_name: 'oauth_user', comment: 'Users, when OAUTH_USERS_TABLE is oauth.user (the default)' },
    select_permissions: [{ role: 'user', permission: { columns: USER_COLUMNS, filter: { id: { _eq: ME } } } }, service(USER_COLUMNS)],
  },
  {
    table: t('identity'),
    configuration: { custom_name: 'oauth_identity', comment: 'Provider accounts linked to users' },
    select_permissions: [{ role: 'user', permission: { columns: IDENTITY_COLUMNS, filter: { user_id: { _eq: ME } } } }, service(IDENTITY_COLUMNS)],
  },
  {
    table: t('sign_in'),
    configuration: { custom_name: 'oauth_sign_in', comment: 'Sign-in audit log: time, provider, IP, user agent, outcome' },
    select_permissions: [
      { role: 'user', permission: { columns: SIGN_IN_COLUMNS, filter: { user_id: { _eq: ME } }, allow_aggregations: true } },
      service(SIGN_IN_COLUMNS),
    ],
  },
];

/** Callers without a session use Hasura's unauthorized role, named `public` here (as in Nhost). */
const ANYONE = ['public', 'user'];
const USERS = ['user'];

export const oauthPlugin = definePlugin({
  name: 'oauth',
  version: '0.1.0',
  description: 'Sign-in with Google, GitHub, Microsoft, Apple, Discord, GitLab, Slack, any OpenID Connect provider and SAML 2.0, issuing Hasura sessions (JWT + rotating refresh tokens).',
  config: oauthConfig,
  services: [oauthClaims, oauthCore],
  tables,
  actions: {
    oauthProviders: { handler: oauthProviders, permissions: ANYONE, timeout: 5 },
    oauthStart: { handler: oauthStart, permissions: ANYONE, timeout: 10 },
    oauthExchangeCode: { handler: oauthExchangeCode, permissions: ANYONE, timeout: 10 },
    oauthRefresh: { handler: oauthRefresh, permissions: ANYONE, timeout: 10 },
    oauthSignOut: { handler: oauthSignOut, permissions: USERS, timeout: 10 },
    oauthIdentities: { handler: oauthIdentities, permissions: USERS, timeout: 10 },
    oauthUnlink: { handler: oauthUnlink, permissions: USERS, timeout: 10 },
  },
  crons: {
    oauth_expired_prune: {
      schedule: '17 * * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 300, timeout_seconds: 120, tolerance_seconds: 3600 },
      comment: 'Removes expired sign-in flows, one-time codes and refresh tokens',
      handler: oauthExpiredPrune,
    },
  },
  install: {
    options: {
      providers: {
        description: `Built-in sign-in providers to switch on (${BUILT_IN_PROVIDERS.join(', ')}); their credentials are asked for unless --yes`,
        setting: 'OAUTH_PROVIDERS',
        list: true,
        values: BUILT_IN_PROVIDERS,
        // The session key and the allow-list are needed as soon as any provider is on.
        settings: (value) => [
          'OAUTH_JWT_SECRET',
          'OAUTH_REDIRECT_ALLOWLIST',
          ...value.split(',').flatMap((p) => REQUIRED_BY_PROVIDER[p as BuiltInProvider] ?? []),
        ],
      },
    },
  },
  routes(router, runtime) {
    const cfg = runtime.config as unknown as OAuthConfig;
    const publicUrl = runtime.core.PUBLIC_URL;
    const core = () => runtime.service(oauthCore);
    const wrap = (fn: (req: express.Request, res: express.Response) => Promise<void>) => (req: express.Request, res: express.Response, next: express.NextFunction) => {
      fn(req, res).catch(next);
    };
    router.get('/jwks.json', (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.json(core().keys?.jwks ?? { keys: [] });
    });
    router.get('/:provider/metadata', wrap(async (req, res) => {
      const provider = core().providers.get(String(req.params.provider));
      if (provider?.kind !== 'saml') {
        res.status(404).json({ error: 'oauth/unknown-provider', message: 'no SAML identity provider of this name is enabled' });
        return;
      }
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.type('application/samlmetadata+xml').send(await provider.metadata());
    }));
    router.get('/:provider/start', wrap((req, res) => handleStart(req, res, runtime.db, core(), cfg, publicUrl)));
    router.get('/:provider/callback', wrap((req, res) => handleCallback(req, res, runtime.db, core(), cfg, publicUrl)));
    // Apple posts its answer (response_mode=form_post), SAML identity providers theirs (HTTP-POST binding).
    router.post('/:provider/callback', express.urlencoded({ extended: false, limit: '64kb' }), wrap((req, res) => handleCallback(req, res, runtime.db, core(), cfg, publicUrl)));
  },
});

export type { OAuthConfig };
