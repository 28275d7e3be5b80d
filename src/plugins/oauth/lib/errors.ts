import { ActionError, defineErrors } from '../../../core/errors.js';

export const OAUTH_ERRORS = defineErrors({
  'oauth/invalid-input': { status: 400, message: 'invalid input' },
  'oauth/unknown-provider': { status: 400, message: 'this provider is not enabled' },
  'oauth/redirect-not-allowed': { status: 400, message: 'redirectTo is not in OAUTH_REDIRECT_ALLOWLIST' },
  'oauth/no-user': { status: 401, message: 'this needs a signed-in user (x-hasura-user-id)' },
  'oauth/invalid-code': { status: 400, message: 'this code is unknown, expired or already used' },
  'oauth/wrong-user': { status: 403, message: 'this link was started by another user' },
  'oauth/identity-taken': { status: 409, message: 'this provider account is linked to another user' },
  'oauth/provider-already-linked': { status: 409, message: 'this user already has another account of this provider linked (Nhost Auth keeps one per provider)' },
  'oauth/sign-up-disabled': { status: 403, message: 'no user matches this account and sign-up is off' },
  'oauth/invalid-refresh-token': { status: 401, message: 'this refresh token is unknown, expired or revoked' },
  'oauth/refresh-token-reused': { status: 401, message: 'this refresh token was already used: every session of its family is revoked' },
  'oauth/identity-not-found': { status: 404, message: 'no identity with this id of yours' },
  'oauth/last-identity': { status: 409, message: 'this is your last way to sign in: link another provider first' },
});

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS;

export function oauthError(code: OAuthErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(OAUTH_ERRORS, code, detail, extensions);
}

/** Why a callback failed: a stable code for the audit log and the app's `?error=`, and a message for people. */
export class CallbackError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'CallbackError';
  }
}
