/**
 * What Hasura does with one webhook result, shared by event triggers and cron triggers
 * (Eventing/EventTrigger.hs `retryOrSetError`, Eventing/HTTP.hs, reference/hasura.md §2.2).
 */
import { headerValue, type HeaderList, type HttpResult } from './http.js';
import type { HeaderConf } from './metadata.js';

export const HASURA_VERSION = 'v2.48.5';

export const defaultHeaders = (version: string): HeaderList => [
  ['Content-Type', 'application/json'],
  ['User-Agent', `hasura-graphql-engine/${version}`],
];

/** `Retry-After` counts only as a positive integer number of seconds (HTTP dates are ignored). */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export type Outcome =
  | { kind: 'success' }
  | { kind: 'retry'; delaySeconds: number }
  | { kind: 'error' };

/**
 * 2xx is success. Anything else (status, network error, timeout) is a failure: give up once `tries` (attempts
 * before this one) reached `numRetries`, unless the response carried a valid Retry-After, which always wins.
 */
export function decide(result: HttpResult, tries: number, numRetries: number, intervalSeconds: number): Outcome {
  if (result.kind === 'response' && result.status >= 200 && result.status < 300) return { kind: 'success' };
  const retryAfter = result.kind === 'response' ? parseRetryAfter(headerValue(result.headers, 'Retry-After')) : undefined;
  if (tries >= numRetries && retryAfter === undefined) return { kind: 'error' };
  return { kind: 'retry', delaySeconds: retryAfter ?? intervalSeconds };
}

/**
 * The invocation log's `request` column: `{payload, headers, version}`, where headers configured with
 * `value_from_env` are logged by env name, never by value.
 */
export function invocationRequest(payload: unknown, version: string, hasuraVersion: string, configured: HeaderConf[] | undefined): unknown {
  const logged: unknown[] = defaultHeaders(hasuraVersion).map(([name, value]) => ({ name, value }));
  for (const h of configured ?? []) logged.push(h.value_from_env !== undefined ? { name: h.name, value_from_env: h.value_from_env } : { name: h.name, value: h.value });
  return { payload, headers: logged, version };
}

/**
 * The invocation log's `response` column and `status`: a 2xx is a `webhook_response`; any other status is a
 * `client_error` carrying the body; a network failure is a `client_error` with the encoded exception and no status.
 */
export function invocationResponse(result: HttpResult, version: string, url: string): { status: number | null; response: unknown } {
  if (result.kind === 'error') {
    const message = JSON.stringify({ message: result.message, request: { url, method: 'POST' }, type: 'http_exception' });
    return { status: null, response: { data: { message }, type: 'client_error', version } };
  }
  if (result.status >= 200 && result.status < 300) {
    return {
      status: result.status,
      response: {
        data: { body: result.body, headers: result.headers.map(([name, value]) => ({ name, value })), status: result.status },
        type: 'webhook_response',
        version,
      },
    };
  }
  return { status: result.status, response: { data: { message: result.body }, type: 'client_error', version } };
}
