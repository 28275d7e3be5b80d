/**
 * A by-primary-key query through the dev endpoint's /v1/graphql (HTTP, JSON in and out, auth, parse, validate,
 * permission, compile, one statement) against the very SQL the endpoint runs (from /v1/graphql/explain), sent
 * through `pg` with the same parallelism, in alternating rounds of the same run. Not a test.
 *
 *   npx tsx bench/dev-bypk.ts [seconds=10] [connections=10]
 */
import autocannon from 'autocannon';
import pg from 'pg';
import { benchDatabase, median, startEndpoint } from './dev-lib.js';

export interface DevByPkResult {
  connections: number;
  rounds: number;
  graphqlPerSecond: number;
  pgPerSecond: number;
  ratio: number;
  graphqlP50Ms: number;
  graphqlP99Ms: number;
  endpointCpuMicrosPerRequest: number;
}

const QUERY = 'query ($id: Int!) { items_by_pk(id: $id) { id owner title score created_at } }';

async function pgRound(pool: pg.Pool, sql: string, seconds: number, connections: number, rows: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        await pool.query(sql, [1 + (done % rows)]);
        done++;
      }
    }),
  );
  return done / seconds;
}

export async function run(seconds = 10, connections = 10): Promise<DevByPkResult> {
  const rows = 10_000;
  const { db, pool } = await benchDatabase(rows);
  const endpoint = await startEndpoint(db.url);
  try {
    const explained = (await (await fetch(`${endpoint.url}/v1/graphql/explain`, { method: 'POST', body: JSON.stringify({ query: { query: QUERY, variables: { id: 1 } }, user: { 'x-hasura-role': 'admin' } }) })).json()) as { sql: string; params: unknown[] }[];
    const sql = explained[0]!.sql;
    if (explained[0]!.params.length !== 1) throw new Error(`expected one parameter, got ${JSON.stringify(explained[0]!.params)}`);
    let n = 0;
    const body = () => JSON.stringify({ query: QUERY, variables: { id: 1 + (n++ % rows) } });
    const gqlRound = async (secs: number) => {
      const cpu0 = endpoint.cpuMs();
      const r = await autocannon({
        url: `${endpoint.url}/v1/graphql`,
        connections,
        duration: secs,
        requests: [{ method: 'POST', path: '/v1/graphql', headers: { 'content-type': 'application/json' }, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body() }) }],
      });
      if (r.non2xx || r.errors) throw new Error(`graphql round: ${r.non2xx} non-2xx, ${r.errors} errors`);
      return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuUs: ((endpoint.cpuMs() - cpu0) * 1000) / r.requests.total };
    };
    await gqlRound(2);
    await pgRound(pool, sql, 2, connections, rows);
    const rounds = 3;
    const per = Math.max(1, Math.round(seconds / rounds));
    const g: Awaited<ReturnType<typeof gqlRound>>[] = [];
    const p: number[] = [];
    for (let i = 0; i < rounds; i++) {
      p.push(await pgRound(pool, sql, per, connections, rows));
      g.push(await gqlRound(per));
    }
    const result: DevByPkResult = {
      connections,
      rounds,
      graphqlPerSecond: median(g.map((x) => x.rps)),
      pgPerSecond: median(p),
      ratio: median(g.map((x) => x.rps)) / median(p),
      graphqlP50Ms: median(g.map((x) => x.p50)),
      graphqlP99Ms: median(g.map((x) => x.p99)),
      endpointCpuMicrosPerRequest: median(g.map((x) => x.cpuUs)),
    };
    console.log(
      [
        `by-pk query, ${connections} in parallel, median of ${rounds} alternating rounds`,
        `  pg (same SQL)      ${result.pgPerSecond.toFixed(0).padStart(7)} queries/s`,
        `  /v1/graphql        ${result.graphqlPerSecond.toFixed(0).padStart(7)} req/s   p50 ${result.graphqlP50Ms} ms   p99 ${result.graphqlP99Ms} ms   endpoint CPU ${result.endpointCpuMicrosPerRequest.toFixed(0)} µs/request`,
        `  ratio              ${result.ratio.toFixed(2)}× of raw pg`,
      ].join('\n'),
    );
    return result;
  } finally {
    await endpoint.stop();
    await pool.end();
    await db.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run(Number(process.argv[2] ?? 10), Number(process.argv[3] ?? 10));
