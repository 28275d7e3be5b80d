/**
 * 1,000 concurrent live-query subscriptions on one table, one change per second, against the dev endpoint in
 * its own process: the endpoint's CPU while idle-polling and while changes flow, in two shapes — every
 * subscriber with the same query and session (one poller, Hasura's multiplexing case) and every subscriber a
 * different user (one poller each). Also checks every subscriber saw every change. Not a test.
 *
 *   npx tsx bench/dev-live.ts [subscribers=1000] [seconds=10]
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { benchDatabase, startEndpoint } from './dev-lib.js';

export interface DevLiveShape {
  shape: string;
  subscribers: number;
  sockets: number;
  seconds: number;
  changes: number;
  /** Endpoint CPU (user + system) as a share of one core while changes flow. */
  endpointCpuPercent: number;
  /** Endpoint CPU with the same subscriptions and no change. */
  idleCpuPercent: number;
  /** Results pushed to subscribers per change (should be `subscribers`). */
  resultsPerChange: number;
  missed: number;
}

const SOCKET_SUBSCRIPTIONS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function shape(name: string, url: string, cpuMs: () => number, pool: import('pg').Pool, subscribers: number, seconds: number, userOf: (i: number) => string, distinctVariables = false): Promise<DevLiveShape> {
  const sockets = Math.ceil(subscribers / SOCKET_SUBSCRIPTIONS);
  const clients: Client[] = [];
  const seen: number[] = new Array(subscribers).fill(0);
  const latest: number[] = new Array(subscribers).fill(-1);
  const stops: (() => void)[] = [];
  const query = `subscription ($k: Int!) { items(where: {id: {_in: [1, $k]}}, order_by: {id: asc}) { id title score } }`;
  for (let s = 0; s < sockets; s++) {
    const owner = userOf(s * SOCKET_SUBSCRIPTIONS);
    const c = createClient({ url: url.replace('http', 'ws') + '/v1/graphql', webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { headers: { 'x-hasura-role': 'admin', 'x-hasura-user-id': owner } } });
    clients.push(c);
    for (let k = 0; k < SOCKET_SUBSCRIPTIONS && s * SOCKET_SUBSCRIPTIONS + k < subscribers; k++) {
      const i = s * SOCKET_SUBSCRIPTIONS + k;
      stops.push(
        c.subscribe(
          { query, variables: { k: distinctVariables ? 2 + i : 2 } },
          {
            next: (r: any) => {
              seen[i]!++;
              latest[i] = r.data.items[0].score;
            },
            error: (e) => console.error('subscription error', e),
            complete: () => undefined,
          },
        ),
      );
    }
  }
  // Everyone has the first result.
  for (let t = 0; t < 600 && seen.some((n) => n === 0); t++) await sleep(50);
  if (seen.some((n) => n === 0)) throw new Error(`${seen.filter((n) => n === 0).length} subscribers got no first result`);
  const idle0 = cpuMs();
  await sleep(3000);
  const idleCpuPercent = ((cpuMs() - idle0) / 3000) * 100;
  const base = seen.reduce((a, b) => a + b, 0);
  const cpu0 = cpuMs();
  const t0 = Date.now();
  let changes = 0;
  for (let s = 0; s < seconds; s++) {
    changes++;
    await pool.query(`UPDATE items SET score = $1 WHERE id = 1`, [1000 + changes]);
    await sleep(1000);
  }
  const cpuPercent = ((cpuMs() - cpu0) / (Date.now() - t0)) * 100;
  await sleep(1500);
  const pushed = seen.reduce((a, b) => a + b, 0) - base;
  const missed = latest.filter((v) => v !== 1000 + changes).length;
  for (const stop of stops) stop();
  await Promise.all(clients.map((c) => c.dispose()));
  await pool.query(`UPDATE items SET score = 1 WHERE id = 1`);
  await sleep(500);
  return { shape: name, subscribers, sockets, seconds, changes, endpointCpuPercent: cpuPercent, idleCpuPercent, resultsPerChange: pushed / changes, missed };
}

export async function run(subscribers = 1000, seconds = 10): Promise<DevLiveShape[]> {
  const { db, pool } = await benchDatabase(10_000);
  const endpoint = await startEndpoint(db.url, 1000);
  try {
    const out: DevLiveShape[] = [];
    out.push(await shape('same query and session (1 poller)', endpoint.url, endpoint.cpuMs, pool, subscribers, seconds, () => 'u1'));
    out.push(await shape(`a different user per socket (${Math.ceil(subscribers / SOCKET_SUBSCRIPTIONS)} pollers)`, endpoint.url, endpoint.cpuMs, pool, subscribers, seconds, (i) => `u${i}`));
    out.push(await shape(`different variables per subscription (${subscribers} pollers)`, endpoint.url, endpoint.cpuMs, pool, subscribers, seconds, () => 'u1', true));
    console.log(`live queries: ${subscribers} subscriptions on one table, one change per second, refetch interval 1 s`);
    for (const r of out) {
      console.log(
        `  ${r.shape.padEnd(50)} endpoint CPU ${r.endpointCpuPercent.toFixed(1).padStart(5)} % of a core (idle ${r.idleCpuPercent.toFixed(1)} %)   results per change ${r.resultsPerChange.toFixed(0)}   subscribers behind at the end ${r.missed}`,
      );
    }
    return out;
  } finally {
    await endpoint.stop();
    await pool.end();
    await db.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 10));
