/**
 * A small plugin with one action, one event trigger and one cron whose behaviour is chosen by the request,
 * so dispatcher and server tests can reach every status path with real handlers, a real database and a
 * real queue.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { ActionError, RetryableError, SkipEvent, defineErrors } from '../../src/core/errors.js';
import { definePlugin, type PluginManifest } from '../../src/core/plugin.js';
import { createRuntime, type RuntimeOptions, type ServerRuntime } from '../../src/core/runtime.js';
import { createScratchDatabase, REDIS_URL, type ScratchDatabase } from '../support/db.js';

export const SECRET = 'test-webhook-secret-0123456789';

export const demoErrors = defineErrors({
  'demo/forbidden': { status: 403, message: 'not allowed' },
});

export const DEMO_SDL = `
extend type Mutation {
  demoGreet(name: String!, mode: DemoMode, id: uuid): DemoGreeting!
}
enum DemoMode { OK CLIENT_ERROR CRASH ZOD ONCE SLOW }
type DemoGreeting { greeting: String!, role: String!, userId: String, first: Boolean }
`;

type Behaviour = 'ok' | 'skip' | 'skip-throw' | 'retry' | 'retry-no-after' | 'crash' | 'slow';

/** Event/cron behaviour shared by the trigger and the cron. */
async function deliver(behaviour: Behaviour | undefined, key: string, ctx: Parameters<NonNullable<PluginManifest['crons']>[string]['handler']>[1]) {
  switch (behaviour) {
    case 'skip':
      return { skipped: 'nothing to do for this row' };
    case 'skip-throw':
      throw new SkipEvent('row is archived');
    case 'retry':
      throw new RetryableError('provider rate-limited', { retryAfterSeconds: 7 });
    case 'retry-no-after':
      throw new RetryableError('provider unavailable');
    case 'crash':
      throw new Error('database password is hunter2 (internal detail)');
    case 'slow':
      await new Promise((r) => setTimeout(r, 600));
      break;
    default:
      break;
  }
  await ctx.once(key, (tx) => tx.query('insert into demo.effects (key, note) values ($1, $2)', [key, behaviour ?? 'ok']));
  ctx.log.info({ key }, 'delivered');
}

/** What the demo plugin's start hook and its stop function did, in order. */
export const lifecycle: string[] = [];

export function demoPlugin(): PluginManifest {
  return definePlugin({
    name: 'demo',
    version: '1.0.0',
    description: 'Test plugin',
    async start(runtime) {
      lifecycle.push(`start ${runtime.plugin}`);
      return async () => {
        lifecycle.push(`stop ${runtime.plugin}`);
      };
    },
    routes(router, runtime) {
      router.get('/ping', (_req, res) => {
        res.json({ pong: true, plugin: runtime.plugin });
      });
    },
    config: z.object({ DEMO_GREETING: z.string().default('hello') }),
    actions: {
      demoGreet: {
        permissions: ['user'],
        handler: async (input: { name: string; mode?: string; id?: string }, ctx) => {
          switch (input.mode) {
            case 'CLIENT_ERROR':
              throw ActionError.from(demoErrors, 'demo/forbidden', undefined, { field: 'name' });
            case 'CRASH':
              throw new Error('secret internal detail');
            case 'ZOD':
              z.object({ name: z.string().min(100) }).parse(input);
              break;
            case 'SLOW':
              await new Promise((r) => setTimeout(r, 600));
              break;
            case 'ONCE': {
              const r = await ctx.once(input.id!, (tx) => tx.query('insert into demo.effects (key, note) values ($1, $2)', [input.id, 'action']));
              return { greeting: 'once', role: ctx.session.role, userId: ctx.session.userId, first: r.first };
            }
          }
          return { greeting: `${(ctx.config as { DEMO_GREETING: string }).DEMO_GREETING} ${input.name}`, role: ctx.session.role, userId: ctx.session.userId, first: null };
        },
      },
    },
    tables: [
      {
        table: { schema: 'demo', name: 'items' },
        event_triggers: [
          {
            name: 'demo_item_created',
            definition: { insert: { columns: '*' }, enable_manual: true },
            handler: async (event, ctx) => deliver((event.event.data.new as { behaviour?: Behaviour } | null)?.behaviour, event.id, ctx),
          },
        ],
      },
    ],
    crons: {
      demo_tick: {
        schedule: '* * * * *',
        handler: async (cron, ctx) => deliver((cron.payload as { behaviour?: Behaviour } | null)?.behaviour, cron.id, ctx),
      },
    },
  });
}

export interface LogCapture {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
}

export function captureLog(level = 'info'): LogCapture {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level }, stream);
  return {
    log,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface TestRuntime {
  runtime: ServerRuntime;
  db: ScratchDatabase;
  logs: LogCapture;
  close(): Promise<void>;
}

export async function startTestRuntime(label: string, env: Record<string, string> = {}, opts: RuntimeOptions = {}): Promise<TestRuntime> {
  const db = await createScratchDatabase(label);
  const logs = captureLog();
  let runtime: ServerRuntime;
  try {
    runtime = await createRuntime(
      { DATABASE_URL: db.url, REDIS_URL, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, ...env },
      { plugins: [demoPlugin()], actionsSdl: (p) => (p === 'demo' ? DEMO_SDL : undefined), log: logs.log, defaultMetrics: false, ...opts },
    );
    await runtime.db.query('create schema demo; create table demo.effects (id serial primary key, key text not null, note text)');
  } catch (e) {
    await db.drop();
    throw e;
  }
  return {
    runtime,
    db,
    logs,
    async close() {
      await runtime.close();
      await db.drop();
    },
  };
}

/* ------------------------------------------------------------------ request bodies as Hasura sends them */

export const UUID = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';

export function actionBody(input: Record<string, unknown>, session: Record<string, string> = { 'x-hasura-role': 'user', 'x-hasura-user-id': '42' }, name = 'demoGreet') {
  return { action: { name }, input, session_variables: session, request_query: 'mutation { demoGreet(name: "x") { greeting } }' };
}

let seq = 0;
export function eventBody(row: Record<string, unknown>, id = `ev-${process.pid}-${++seq}`, name = 'demo_item_created') {
  return {
    id,
    created_at: '2024-05-01T22:00:00.123456Z',
    trigger: { name },
    table: { schema: 'demo', name: 'items' },
    delivery_info: { max_retries: 3, current_retry: 0 },
    event: { op: 'INSERT', data: { old: null, new: row }, session_variables: { 'x-hasura-role': 'admin' }, trace_context: null },
  };
}

export function cronBody(payload: unknown, id = `cron-${process.pid}-${++seq}`, name = 'demo_tick') {
  return { id, name, scheduled_time: '2024-05-01T22:00:00Z', payload, comment: 'test' };
}

export const authHeaders = { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET };
