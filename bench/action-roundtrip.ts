/**
 * Action round trip: the handler server (secret check, envelope parsing, session, SDL input validation,
 * handler, metrics) vs a bare node:http server parsing the same JSON and answering the same output.
 * Goal ≥ 0.85× the bare server, as throughput ratio and as server CPU per request at a fixed rate (bare µs ÷
 * ours), both in one run. Not a test: numbers depend on the machine.
 *
 *   npx tsx bench/action-roundtrip.ts [seconds]
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, REDIS_URL } from '../test/support/db.js';
import { compare, report, startServer, type Comparison } from './roundtrip-lib.js';

export async function run(opts: { seconds?: number; log?: (line: string) => void; loaded?: boolean } = {}): Promise<Comparison & { requestPath?: Comparison }> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const db = await createScratchDatabase('bench_action');
  const env = { DATABASE_URL: db.url, REDIS_URL };
  const ours = await startServer('ours-action', env);
  const bare = await startServer('bare-action', env);
  const loaded = opts.loaded === false ? undefined : await startServer('bare-action-loaded', env);
  try {
    const body = JSON.stringify({
      action: { name: 'benchGreet' },
      input: { name: 'Ada', times: 2 },
      session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': '42' },
      request_query: 'mutation { benchGreet(name: "Ada", times: 2) { greeting role userId } }',
    });
    const seconds = opts.seconds ?? 10;
    const c = await compare({ name: 'action round trip (50 connections)', path: '/actions/benchGreet', body, ours, bare, seconds, warmupSeconds: 2, goal: 0.85, fixedRate: 'auto', rounds: 4 });
    say(report(c));
    if (!loaded) return c;
    // The same bare handler inside a process holding a started runtime: separates what our request path
    // costs from what a process with the suite's pools, queue clients, metrics and modules costs a request.
    const requestPath = await compare({ name: 'action round trip vs the bare handler in a process with the runtime started', path: '/actions/benchGreet', body, ours, bare: loaded, seconds, warmupSeconds: 2, goal: 0.85, fixedRate: 'auto', rounds: 4 });
    say(report(requestPath));
    return { ...c, requestPath };
  } finally {
    await loaded?.stop();
    await ours.stop();
    await bare.stop();
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ seconds: process.argv[2] ? Number(process.argv[2]) : undefined });
}
