/** GraphQL errors in Hasura's shape: `{message, extensions: {path, code}}`. */

export interface GraphQLErrorJson {
  message: string;
  extensions: Record<string, unknown>;
}

export function hasuraError(message: string, code: string, path = '$'): GraphQLErrorJson {
  return { message, extensions: { path, code } };
}

/** A request that fails with these errors (thrown or returned through the executor). */
export class GraphQLFailure {
  constructor(readonly errors: GraphQLErrorJson[]) {}
}
