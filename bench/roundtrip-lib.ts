/**
 * Shared by the round-trip benchmarks: start a server in its own process (so the load generator does not
 * steal its event loop), load it with autocannon, and compare against a bare `node:http` baseline measured
 * in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
export const SECRET = 'bench-webhook-secret-0123456789';

export interface ServerHandle {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** CPU time (user + system) a process has used, in ms; undefined where /proc is not available. */
export function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Starts `bench/<script> [args…]` in its own process and waits for its `READY <port>` line (every bench server
 * prints one once listening, and stops on SIGTERM).
 */
export function startBenchProcess(script: string, args: string[], env: Record<string, string | undefined>): Promise<ServerHandle> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+)/.exec(buf);
      if (!m) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve({
        url: `http://127.0.0.1:${m[1]}`,
        pid: child.pid!,
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${[script, ...args].join(' ')} exited with ${code} before it was ready`)));
  });
}

/** Starts `bench/<script> <mode>` (default: the round-trip servers) with the shared webhook secret. */
export function startServer(mode: string, env: Record<string, string>, script = 'roundtrip-servers.ts'): Promise<ServerHandle> {
  return startBenchProcess(script, [mode], { ...env, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET });
}

export interface Load {
  requestsPerSecond: number;
  /** Server process CPU per request (user + system), when measurable. */
  cpuMicrosPerRequest?: number;
  p99Ms: number;
  p50Ms: number;
  total: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  url: string;
  path: string;
  /** A fixed body, or one built per request (unique event ids). */
  body: string | (() => string);
  seconds: number;
  connections?: number;
  /** A fixed request rate (requests/s over all connections) instead of as many as the server answers. */
  rate?: number;
}

export async function load(o: LoadOptions): Promise<Load> {
  const headers = { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET };
  const makeBody = o.body;
  const result = await autocannon({
    url: o.url + o.path,
    method: 'POST',
    connections: o.connections ?? 50,
    duration: o.seconds,
    ...(o.rate ? { overallRate: o.rate } : {}),
    headers,
    ...(typeof makeBody === 'string'
      ? { body: makeBody }
      : { requests: [{ method: 'POST', path: o.path, headers, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: makeBody() }) }] }),
  });
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export interface FixedRate {
  /** Requests per second both servers were sent. */
  rate: number;
  bare: Load;
  ours: Load;
  /** Bare server CPU per request ÷ ours: the share of our per-request cost that the bare work is. */
  cpuRatio: number;
  /** Our CPU per request minus the bare server's, in µs. */
  extraMicros: number;
}

export interface Comparison {
  name: string;
  ours: Load;
  bare: Load;
  /** Throughput ratio (ours ÷ bare requests/s at full load). */
  ratio: number;
  goal: number;
  /** CPU per request at a fixed rate both servers sustain: steadier than throughput on a shared 2-core machine. */
  fixed?: FixedRate;
}

/** Averages rounds: requests/s and CPU by total, p50/p99 by mean. */
function combine(rounds: Load[]): Load {
  const total = rounds.reduce((a, r) => a + r.total, 0);
  const mean = (f: (l: Load) => number) => rounds.reduce((a, r) => a + f(r), 0) / rounds.length;
  const cpu = rounds.every((r) => r.cpuMicrosPerRequest !== undefined) ? mean((r) => r.cpuMicrosPerRequest!) : undefined;
  return {
    requestsPerSecond: mean((r) => r.requestsPerSecond),
    cpuMicrosPerRequest: cpu,
    p99Ms: mean((r) => r.p99Ms),
    p50Ms: mean((r) => r.p50Ms),
    total,
    non2xx: rounds.reduce((a, r) => a + r.non2xx, 0),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
  };
}

async function measured(s: ServerHandle, o: Omit<LoadOptions, 'url'>): Promise<Load> {
  const before = cpuMs(s.pid);
  const l = await load({ ...o, url: s.url });
  const after = cpuMs(s.pid);
  if (before !== undefined && after !== undefined && l.total > 0) l.cpuMicrosPerRequest = ((after - before) * 1000) / l.total;
  return l;
}

/**
 * Warms both servers, then alternates bare and ours for `rounds` rounds of `seconds / rounds` each, so a
 * machine whose load drifts during the run (other processes) does not favour whichever ran first.
 */
export async function compare(o: {
  name: string;
  path: string;
  body: string | (() => string);
  ours: ServerHandle;
  bare: ServerHandle;
  seconds: number;
  warmupSeconds: number;
  goal: number;
  rounds?: number;
  /**
   * Also measure CPU per request at a fixed rate: a number of requests/s, or 'auto' for half the slower
   * server's throughput (both then answer every request without queueing).
   */
  fixedRate?: number | 'auto';
}): Promise<Comparison> {
  for (const s of [o.bare, o.ours]) await load({ url: s.url, path: o.path, body: o.body, seconds: o.warmupSeconds });
  const rounds = o.rounds ?? 2;
  const per = Math.max(1, Math.round(o.seconds / rounds));
  const bareRounds: Load[] = [];
  const ourRounds: Load[] = [];
  for (let i = 0; i < rounds; i++) {
    bareRounds.push(await measured(o.bare, { path: o.path, body: o.body, seconds: per }));
    ourRounds.push(await measured(o.ours, { path: o.path, body: o.body, seconds: per }));
  }
  const bare = combine(bareRounds);
  const ours = combine(ourRounds);
  for (const [who, l] of [['bare', bare], ['ours', ours]] as const) {
    if (l.non2xx > 0 || l.errors > 0) throw new Error(`${o.name}: ${who} answered ${l.non2xx} non-2xx and ${l.errors} errors`);
  }
  const result: Comparison = { name: o.name, ours, bare, ratio: ours.requestsPerSecond / bare.requestsPerSecond, goal: o.goal };
  if (o.fixedRate !== undefined) {
    const rate = o.fixedRate === 'auto' ? Math.max(100, Math.round(Math.min(bare.requestsPerSecond, ours.requestsPerSecond) / 2 / 100) * 100) : o.fixedRate;
    const fb: Load[] = [];
    const fo: Load[] = [];
    for (let i = 0; i < rounds; i++) {
      fb.push(await measured(o.bare, { path: o.path, body: o.body, seconds: per, rate, connections: 10 }));
      fo.push(await measured(o.ours, { path: o.path, body: o.body, seconds: per, rate, connections: 10 }));
    }
    const fBare = combine(fb);
    const fOurs = combine(fo);
    if (fBare.cpuMicrosPerRequest !== undefined && fOurs.cpuMicrosPerRequest !== undefined) {
      result.fixed = {
        rate,
        bare: fBare,
        ours: fOurs,
        cpuRatio: fBare.cpuMicrosPerRequest / fOurs.cpuMicrosPerRequest,
        extraMicros: fOurs.cpuMicrosPerRequest - fBare.cpuMicrosPerRequest,
      };
    }
  }
  return result;
}

export function report(c: Comparison): string {
  const row = (who: string, l: Load) =>
    `  ${who.padEnd(5)} ${l.requestsPerSecond.toFixed(0).padStart(7)} req/s   p50 ${l.p50Ms.toFixed(1).padStart(5)} ms   p99 ${l.p99Ms.toFixed(1).padStart(5)} ms` +
    (l.cpuMicrosPerRequest !== undefined ? `   server CPU ${l.cpuMicrosPerRequest.toFixed(1)} µs/request` : '') +
    `   (${l.total} requests)`;
  const lines = [
    `${c.name}`,
    `  as fast as possible:`,
    row('bare', c.bare),
    row('ours', c.ours),
    `  throughput ratio ${c.ratio.toFixed(2)}× (goal ≥ ${c.goal.toFixed(2)}×) ${c.ratio >= c.goal ? 'met' : 'NOT met'}`,
  ];
  const f = c.fixed;
  if (f) {
    const cpu = (who: string, l: Load) => `  ${who.padEnd(5)} server CPU ${l.cpuMicrosPerRequest!.toFixed(1).padStart(6)} µs/request   p50 ${l.p50Ms.toFixed(1)} ms   (${l.total} requests)`;
    lines.push(
      `  at a fixed ${f.rate} requests/s:`,
      cpu('bare', f.bare),
      cpu('ours', f.ours),
      `  CPU ratio ${f.cpuRatio.toFixed(2)}× (bare µs ÷ ours; goal ≥ ${c.goal.toFixed(2)}×) ${f.cpuRatio >= c.goal ? 'met' : 'NOT met'}; ours costs ${f.extraMicros.toFixed(1)} µs/request more`,
    );
  }
  return lines.join('\n');
}
