/**
 * HTTP transports for queries and mutations: each sends `{query, variables}` with the given headers and answers
 * `data`, or throws an NselfError (`http-error` with the status for an answer that is not GraphQL, the first
 * GraphQL error's code otherwise, `aborted`, `network`).
 */
import { NselfError, type GraphQLErrorLike } from './errors.js';

export interface HttpRequest {
  query: string;
  variables?: Record<string, unknown>;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

export type HttpTransport = (r: HttpRequest) => Promise<unknown>;

const aborted = () => new NselfError('the operation was cancelled', 'aborted');

/**
 * A plain `fetch` transport: what `graphql-request` does for a string document, without the graphql-js parser
 * it bundles to read operation names (11 kB gzip). `createClientCore({ url, http: fetchHttp(url) })`.
 */
export function fetchHttp(url: string, fetchImpl?: typeof fetch): HttpTransport {
  return async ({ query, variables, headers, signal }) => {
    let res: Response;
    try {
      res = await (fetchImpl ?? fetch)(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
        body: JSON.stringify(variables ? { query, variables } : { query }),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      throw signal?.aborted ? aborted() : new NselfError((e as Error)?.message ?? String(e), 'network');
    }
    let body: { data?: unknown; errors?: GraphQLErrorLike[] };
    try {
      body = JSON.parse(await res.text()) as typeof body;
    } catch {
      if (signal?.aborted) throw aborted();
      throw new NselfError(`HTTP ${res.status} from the GraphQL endpoint`, 'http-error', {}, res.status);
    }
    if (body?.errors?.length) throw NselfError.fromGraphQL(body.errors, res.status);
    if (!res.ok || body?.data === undefined || body.data === null) throw new NselfError(`HTTP ${res.status} from the GraphQL endpoint`, 'http-error', {}, res.status);
    return body.data;
  };
}
