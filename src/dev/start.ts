/**
 * `nself-plugins dev`: PostgreSQL (embedded, or DATABASE_URL), migrations, the handler server and the Hasura
 * stand-in `/v1/graphql` (HTTP and WebSocket) on one port, with event triggers, crons and async actions running
 * in the background. A development stand-in only: production runs behind the real Hasura.
 */
import type { Logger } from 'pino';
import { loadCatalog } from '../hasura/catalog.js';
import type { PluginManifest } from '../core/plugin.js';
import { createRuntime, type ServerRuntime } from '../core/runtime.js';
import { activeFeatures } from '../core/features.js';
import { createServer, type NselfServer } from '../core/server.js';
import { createDevEndpoint, GRAPHQL_PATH, type DevEndpoint } from './endpoint.js';
import { applyProjectMigrations, devMetadata } from './project.js';

export interface DevOptions {
  port?: number;
  host?: string;
  /** A Hasura CLI v3 project served together with the plugins. */
  projectDir?: string;
  cwd?: string;
  /** Plugin catalogue to run (default: the suite's, or NSELF_PLUGINS_CATALOG). */
  plugins?: readonly PluginManifest[];
  log?: Logger;
}

export interface DevServer {
  url: string;
  graphqlUrl: string;
  runtime: ServerRuntime;
  server: NselfServer;
  endpoint: DevEndpoint;
  /** Lines describing the endpoint and a working example request. */
  banner: string[];
  stop(): Promise<void>;
}

const num = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));

export async function startDev(env: Readonly<Record<string, string | undefined>>, opts: DevOptions = {}): Promise<DevServer> {
  const runtime = await createRuntime(env, { ...(opts.plugins ? { plugins: opts.plugins } : {}), ...(opts.log ? { log: opts.log } : {}) });
  let endpoint: DevEndpoint | undefined;
  const server = createServer(runtime, { intercept: (req, res) => endpoint?.handle(req, res) ?? false });
  try {
    const { url } = await server.listen(opts.port ?? runtime.core.PORT, opts.host ?? runtime.core.HOST);
    const catalog = await loadCatalog(env as NodeJS.ProcessEnv, opts.cwd ?? process.cwd());
    const enabled = runtime.plugins.map((p) => p.name).filter((n) => catalog.plugins.some((c) => c.manifest.name === n));
    if (opts.projectDir) {
      const applied = await applyProjectMigrations(runtime.databaseUrl, opts.projectDir);
      if (applied.length) runtime.log.info({ applied }, 'applied %d migration(s) of the project', applied.length);
    }
    // The features the server runs with (<PLUGIN>_FEATURES), so the endpoint serves exactly what is routed.
    const features = new Map(runtime.plugins.map((p) => [p.name, [...activeFeatures(p)]]));
    const metadata = devMetadata({ catalog, plugins: enabled, features, ...(opts.projectDir ? { projectDir: opts.projectDir } : {}) });
    const devMode = env.HASURA_GRAPHQL_DEV_MODE === 'true';
    endpoint = await createDevEndpoint({
      databaseUrl: runtime.databaseUrl,
      metadata,
      handlerBaseUrl: url,
      cronScheduler: true,
      env: { ...env, NSELF_PLUGINS_WEBHOOK_SECRET: runtime.webhookSecret },
      auth: {
        ...(env.HASURA_GRAPHQL_ADMIN_SECRET ? { adminSecret: env.HASURA_GRAPHQL_ADMIN_SECRET } : {}),
        ...(env.HASURA_GRAPHQL_JWT_SECRET ? { jwtSecret: env.HASURA_GRAPHQL_JWT_SECRET } : {}),
        ...(env.HASURA_GRAPHQL_UNAUTHORIZED_ROLE ? { unauthorizedRole: env.HASURA_GRAPHQL_UNAUTHORIZED_ROLE } : {}),
      },
      subscriptions: {
        ...(num(env.HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL) !== undefined ? { refetchIntervalMs: num(env.HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL)! } : {}),
        ...(num(env.HASURA_GRAPHQL_STREAMING_QUERIES_MULTIPLEXED_REFETCH_INTERVAL) !== undefined ? { streamIntervalMs: num(env.HASURA_GRAPHQL_STREAMING_QUERIES_MULTIPLEXED_REFETCH_INTERVAL)! } : {}),
      },
      harness: {
        devMode,
        ...(num(env.HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL) !== undefined ? { events: { fetchIntervalMs: num(env.HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL)! } } : {}),
        ...(num(env.HASURA_GRAPHQL_ASYNC_ACTIONS_FETCH_INTERVAL) !== undefined ? { asyncActionsFetchIntervalMs: num(env.HASURA_GRAPHQL_ASYNC_ACTIONS_FETCH_INTERVAL)! } : {}),
      },
    });
    endpoint.attach(server.http);
    const graphqlUrl = `${url}${GRAPHQL_PATH}`;
    const banner = bannerLines(graphqlUrl, endpoint, enabled);
    runtime.log.warn({ graphql: graphqlUrl, auth: endpoint.auth.mode, unsupported: endpoint.unsupported }, 'nself-plugins dev: a DEVELOPMENT stand-in for Hasura at %s; production runs behind the real Hasura', graphqlUrl);
    let stopping: Promise<void> | undefined;
    return {
      url,
      graphqlUrl,
      runtime,
      server,
      endpoint,
      banner,
      stop: () =>
        (stopping ??= (async () => {
          await endpoint!.close();
          await server.shutdown('dev stopped');
        })()),
    };
  } catch (e) {
    await endpoint?.close().catch(() => undefined);
    await server.shutdown('dev failed to start');
    throw e;
  }
}

function bannerLines(graphqlUrl: string, endpoint: DevEndpoint, plugins: string[]): string[] {
  const header =
    endpoint.auth.mode === 'open'
      ? ''
      : endpoint.auth.mode === 'jwt'
        ? ` -H "Authorization: Bearer $TOKEN"`
        : ` -H "x-hasura-admin-secret: $HASURA_GRAPHQL_ADMIN_SECRET"`;
  const query = plugins.includes('core') ? '{ coreVersion { version plugins { name version } } }' : '{ __typename }';
  const lines = [
    'nself-plugins dev — a DEVELOPMENT stand-in for Hasura (not for production; run the real Hasura there)',
    `  GraphQL:      ${graphqlUrl}   (WebSocket: ${graphqlUrl.replace(/^http/, 'ws')}, graphql-transport-ws)`,
    `  auth:         ${endpoint.auth.mode === 'open' ? 'none configured: every request is admin (set HASURA_GRAPHQL_ADMIN_SECRET or HASURA_GRAPHQL_JWT_SECRET)' : endpoint.auth.mode}`,
    `  plugins:      ${plugins.join(', ') || '(none)'}`,
    `  try:          curl -s ${graphqlUrl} -H 'content-type: application/json'${header} -d '${JSON.stringify({ query })}'`,
  ];
  for (const u of endpoint.unsupported) lines.push(`  not served:   ${u}`);
  return lines;
}
