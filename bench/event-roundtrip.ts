/**
 * Event round trip: the handler server delivering an event whose handler records its `ctx.once` receipt
 * vs a bare node:http server doing the same transactional receipt by hand (BEGIN + claim in one message,
 * the effect, COMMIT) through pg. Every request carries a new event id, so both really insert. Same pool
 * size on both sides. Goal ≥ 0.90×, as throughput ratio and as server CPU per request at a fixed rate.
 * Not a test.
 *
 *   npx tsx bench/event-roundtrip.ts [seconds]
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, REDIS_URL } from '../test/support/db.js';
import { compare, report, startServer, type Comparison } from './roundtrip-lib.js';

export async function run(opts: { seconds?: number; log?: (line: string) => void } = {}): Promise<Comparison> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const db = await createScratchDatabase('bench_event');
  const env = { DATABASE_URL: db.url, REDIS_URL };
  const ours = await startServer('ours-event', env);
  const bare = await startServer('bare-event', env);
  try {
    let n = 0;
    const prefix = `${Date.now().toString(36)}-`;
    const template = JSON.stringify({
      id: '__ID__',
      created_at: '2024-05-01T22:00:00.123456Z',
      trigger: { name: 'bench_item_created' },
      table: { schema: 'bench', name: 'items' },
      delivery_info: { max_retries: 3, current_retry: 0 },
      event: { op: 'INSERT', data: { old: null, new: { id: 1, title: 'hello' } }, session_variables: { 'x-hasura-role': 'admin' }, trace_context: null },
    });
    const body = () => template.replace('__ID__', prefix + n++);
    const seconds = opts.seconds ?? 10;
    const c = await compare({ name: 'event round trip with ctx.once receipt (50 connections)', path: '/events/bench_item_created', body, ours, bare, seconds, warmupSeconds: 2, goal: 0.9, fixedRate: 'auto', rounds: 4 });
    say(report(c));
    return c;
  } finally {
    await ours.stop();
    await bare.stop();
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ seconds: process.argv[2] ? Number(process.argv[2]) : undefined });
}
