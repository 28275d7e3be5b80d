/** `createNselfClient`: the client core with `graphql-request` for queries and mutations. */
import { ClientError, GraphQLClient } from 'graphql-request';
import { createClientCore, type NselfClient, type NselfClientOptions } from './core.js';
import { NselfError, type GraphQLErrorLike } from './errors.js';
import type { HttpTransport } from './http.js';

export function graphqlRequestHttp(url: string, fetchImpl?: typeof fetch): HttpTransport {
  const http = new GraphQLClient(url, { ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  return async ({ query, variables, headers, signal }) => {
    try {
      return await http.request<unknown>({ document: query, ...(variables ? { variables } : {}), requestHeaders: headers, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted) throw new NselfError('the operation was cancelled', 'aborted');
      if (e instanceof ClientError) {
        const errors = e.response.errors as GraphQLErrorLike[] | undefined;
        if (errors?.length) throw NselfError.fromGraphQL(errors, e.response.status);
        throw new NselfError(`HTTP ${e.response.status} from the GraphQL endpoint`, 'http-error', {}, e.response.status);
      }
      throw new NselfError((e as Error)?.message ?? String(e), 'network');
    }
  };
}

export function createNselfClient(o: NselfClientOptions): NselfClient {
  return createClientCore({ ...o, http: o.http ?? graphqlRequestHttp(o.url, o.fetch) });
}
