/**
 * The GraphQL schema a client sees through Hasura, for typing client operations: `nself-plugins dev` started on
 * the given database with the given plugins (and the user's project), introspected as admin (the union of every
 * role's fields), printed sorted so the output only changes when the schema does.
 */
import { randomBytes } from 'node:crypto';
import { buildClientSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema, type IntrospectionQuery } from 'graphql';
import { pino } from 'pino';
import { startDev } from './start.js';

export interface ClientSchemaOptions {
  /** Plugins to serve (dependency order is resolved by the registry). */
  plugins: readonly string[];
  projectDir?: string;
  cwd?: string;
}

export async function clientSchemaSdl(env: Readonly<Record<string, string | undefined>>, opts: ClientSchemaOptions): Promise<string> {
  const secret = randomBytes(16).toString('hex');
  const dev = await startDev(
    { ...env, PLUGINS_ENABLED: opts.plugins.join(','), HASURA_GRAPHQL_ADMIN_SECRET: secret, HASURA_GRAPHQL_JWT_SECRET: undefined },
    { port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }), ...(opts.projectDir ? { projectDir: opts.projectDir } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) },
  );
  try {
    const res = await fetch(dev.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': secret },
      body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: false }) }),
    });
    const body = (await res.json()) as { data?: IntrospectionQuery; errors?: { message: string }[] };
    if (!body.data) throw new Error(`introspection failed: ${body.errors?.map((e) => e.message).join('; ') ?? res.status}`);
    return printSchema(lexicographicSortSchema(buildClientSchema(body.data))) + '\n';
  } finally {
    await dev.stop();
  }
}
