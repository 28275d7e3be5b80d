/**
 * Servers the round-trip benchmarks load, one per process:
 *   ours-action / ours-event  the handler server (createRuntime + createServer) with a one-action, one-trigger plugin
 *   bare-action               node:http parsing the action JSON and answering the same output
 *   bare-action-loaded        bare-action in a process that also holds a started runtime (pools, queue,
 *                             metrics, every module the suite loads): what the process alone costs a request
 *   bare-event                node:http doing the transactional receipt (BEGIN + claim, effect, COMMIT) through pg
 * Prints `READY <port>` once listening; exits on SIGTERM.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { definePlugin } from '../src/core/plugin.js';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { readBody, send } from './bare-http.js';

export const BENCH_SDL = `
extend type Mutation { benchGreet(name: String!, times: Int): BenchGreeting! }
type BenchGreeting { greeting: String!, role: String!, userId: String }
`;

const benchPlugin = definePlugin({
  name: 'bench',
  version: '1.0.0',
  description: 'benchmark plugin',
  actions: {
    benchGreet: {
      permissions: ['user'],
      handler: async (input: { name: string }, ctx) => ({ greeting: `hello ${input.name}`, role: ctx.session.role, userId: ctx.session.userId }),
    },
  },
  tables: [
    {
      table: { schema: 'bench', name: 'items' },
      event_triggers: [
        {
          name: 'bench_item_created',
          definition: { insert: { columns: '*' } },
          handler: async (event, ctx) => {
            await ctx.once(event.id, async () => undefined);
          },
        },
      ],
    },
  ],
});

const mode = process.argv[2];
const secret = process.env.NSELF_PLUGINS_WEBHOOK_SECRET!;
const databaseUrl = process.env.DATABASE_URL!;
const POOL_MAX = Number(process.env.DATABASE_POOL_MAX ?? 10);

async function bare(handle: (body: any) => Promise<unknown>): Promise<http.Server> {
  return http.createServer(async (req, res) => {
    if (req.headers['x-nself-plugins-secret'] !== secret) return send(res, 401, { message: 'unauthorized' });
    try {
      send(res, 200, await handle(JSON.parse(await readBody(req))));
    } catch {
      send(res, 400, { message: 'bad request' });
    }
  });
}

let server: http.Server;
let close: () => Promise<void>;

if (mode === 'bare-action-loaded') {
  const runtime = await createRuntime(
    { ...process.env, PLUGINS_ENABLED: 'bench', DATABASE_POOL_MAX: String(POOL_MAX) },
    { plugins: [benchPlugin], actionsSdl: () => BENCH_SDL, log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), defaultMetrics: process.env.BENCH_DEFAULT_METRICS !== '0' },
  );
  server = await bare(async (b) => {
    if (b.action?.name !== 'benchGreet' || typeof b.input?.name !== 'string') throw new Error('bad');
    const vars: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.session_variables as Record<string, string>)) vars[k.toLowerCase()] = v;
    return { greeting: `hello ${b.input.name}`, role: vars['x-hasura-role'], userId: vars['x-hasura-user-id'] ?? null };
  });
  close = () => runtime.close();
} else if (mode === 'bare-action') {
  server = await bare(async (b) => {
    if (b.action?.name !== 'benchGreet' || typeof b.input?.name !== 'string') throw new Error('bad');
    const vars: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.session_variables as Record<string, string>)) vars[k.toLowerCase()] = v;
    return { greeting: `hello ${b.input.name}`, role: vars['x-hasura-role'], userId: vars['x-hasura-user-id'] ?? null };
  });
  close = async () => undefined;
} else if (mode === 'bare-event') {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_MAX });
  await pool.query('create table if not exists bench_bare_receipt (key text primary key, created_at timestamptz not null default now())');
  server = await bare(async (b) => {
    if (typeof b.id !== 'string' || b.trigger?.name !== 'bench_item_created') throw new Error('bad');
    // What a careful hand-written handler does: BEGIN and the claim in one message, the effect, COMMIT.
    const client = await pool.connect();
    try {
      const r = (await client.query(`BEGIN; INSERT INTO bench_bare_receipt (key) VALUES (${pg.escapeLiteral(b.id)}) ON CONFLICT DO NOTHING RETURNING 1`)) as unknown as pg.QueryResult[];
      const first = r[1]!.rowCount === 1;
      await client.query(first ? 'COMMIT' : 'ROLLBACK');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
    return { ok: true };
  });
  close = () => pool.end();
} else if (mode === 'ours-action' || mode === 'ours-event') {
  const runtime = await createRuntime(
    { ...process.env, PLUGINS_ENABLED: 'bench', DATABASE_POOL_MAX: String(POOL_MAX) },
    { plugins: [benchPlugin], actionsSdl: () => BENCH_SDL, log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), defaultMetrics: process.env.BENCH_DEFAULT_METRICS !== '0' },
  );
  const s = createServer(runtime);
  server = s.http;
  await s.listen(0, '127.0.0.1');
  close = () => s.shutdown('bench done');
} else {
  throw new Error(`unknown mode ${mode}`);
}

if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
process.once('SIGTERM', () => {
  server.close();
  void close().finally(() => process.exit(0));
});
