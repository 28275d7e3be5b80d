/**
 * One error type for everything the SDK reports: GraphQL errors with Hasura's (or a plugin's) `extensions.code`,
 * HTTP and network failures, refused WebSocket connections, and client-side checks (`files/too-large`, …), so
 * an app branches on `code` alone.
 */

export interface GraphQLErrorLike {
  message: string;
  extensions?: Record<string, unknown>;
  path?: readonly (string | number)[];
}

export class NselfError extends Error {
  override readonly name = 'NselfError';
  constructor(
    message: string,
    /** Hasura's or the plugin's code: `invalid-jwt`, `validation-failed`, `files/too-large`, `network`, `aborted`, … */
    readonly code: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
    readonly status?: number,
  ) {
    super(message);
  }

  /** Seconds the server asked to wait (`realtime/rate-limited` and friends). */
  get retryAfterSeconds(): number | undefined {
    const v = this.extensions.retryAfterSeconds;
    return typeof v === 'number' ? v : undefined;
  }

  static fromGraphQL(errors: readonly GraphQLErrorLike[], status?: number): NselfError {
    const first = errors[0] ?? { message: 'unknown GraphQL error' };
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'graphql-error';
    const message = errors.length > 1 ? `${first.message} (and ${errors.length - 1} more)` : first.message;
    return new NselfError(message, code, { ...(first.extensions ?? {}), ...(first.path ? { path: first.path } : {}), errors }, status);
  }
}

/** Hasura's codes for a token that no longer works: the SDK refreshes the token once and tries again. */
export function isAuthError(e: unknown): boolean {
  if (!(e instanceof NselfError)) return false;
  return e.code === 'invalid-jwt' || e.code === 'jwt-invalid-claims' || (e.code === 'invalid-headers' && /JWT|Authorization/i.test(e.message));
}

export const abortError = (): NselfError => new NselfError('the operation was cancelled', 'aborted');
