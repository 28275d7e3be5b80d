/**
 * Realtime write paths through the real handler server vs baselines measured in the same run:
 *   - heartbeats/s and typing updates/s through realtimeHeartbeat / realtimeStartTyping vs a bare node:http
 *     server running the same SQL per request through pg (goal ≥ 0.80×);
 *   - broadcasts/s through realtimeBroadcast vs raw INSERTs of the same rows through pg, no HTTP (goal ≥ 0.60×),
 *     and, for scale, vs the bare server running the broadcast's SQL.
 * Every request writes (throttling off), each from a random one of 10,000 users in one of 1,000 rooms.
 *
 *   npx tsx bench/realtime-actions.ts [seconds]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createRuntime } from '../src/core/runtime.js';
import { createScratchDatabase } from '../test/support/db.js';
import { compare, report, SECRET, type Comparison, type ServerHandle } from './roundtrip-lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const USERS = 10_000;
const ROOMS = 1000;

function start(mode: string, env: Record<string, string>): Promise<{ child: ChildProcess; handle?: ServerHandle; done: Promise<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'realtime-servers.ts'), mode], {
    env: { ...process.env, ...env, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  const done = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /DONE (\d+)/.exec(buf);
      if (m) res(m[1]!);
    });
    // A child that dies (e.g. the database refuses more connections) must not leave the run waiting forever.
    child.once('exit', (code) => rej(new Error(`${mode} exited with ${code}`)));
  });
  done.catch(() => undefined);
  return new Promise((resolveStart, reject) => {
    if (mode === 'raw-inserts') return resolveStart({ child, done });
    const onData = () => {
      const m = /READY (\d+)/.exec(buf);
      if (!m) return;
      child.stdout!.off('data', onData);
      resolveStart({
        child,
        done,
        handle: {
          url: `http://127.0.0.1:${m[1]}`,
          pid: child.pid!,
          stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
        },
      });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code} before it was ready`)));
  });
}

const pick = () => Math.floor(Math.random() * USERS);
const envelope = (action: string, input: Record<string, unknown>, user: number) =>
  JSON.stringify({ action: { name: action }, input, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': `u${user}` }, request_query: '' });

export async function run(opts: { seconds?: number; log?: (line: string) => void } = {}): Promise<Comparison[]> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 10;
  const db = await createScratchDatabase('bench_realtime');
  const env = { DATABASE_URL: db.url, PLUGINS_ENABLED: 'realtime', LOG_LEVEL: 'warn', REALTIME_HEARTBEAT_MIN_INTERVAL_MS: '0', REALTIME_TYPING_MIN_INTERVAL_MS: '0', REALTIME_BROADCAST_PER_MINUTE: '1000000' };
  const migrate = await createRuntime({ ...env, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent' });
  await migrate.close();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await pool.query(`INSERT INTO realtime.room (id) SELECT 'channel:r' || g FROM generate_series(0, ${ROOMS - 1}) g`);
  await pool.query(`INSERT INTO realtime.room_member (room_id, user_id) SELECT 'channel:r' || (g % ${ROOMS}), 'u' || g FROM generate_series(0, ${USERS - 1}) g`);
  await pool.query('ANALYZE');

  const ours = (await start('ours', env)).handle!;
  const bare = (await start('bare', env)).handle!;
  const results: Comparison[] = [];
  try {
    const hb = await compare({
      name: 'realtimeHeartbeat (50 connections, every request writes)',
      path: '/actions/realtimeHeartbeat',
      body: () => {
        const u = pick();
        return envelope('realtimeHeartbeat', { deviceId: 'web', platform: 'web', roomId: `channel:r${u % ROOMS}` }, u);
      },
      ours,
      bare,
      seconds,
      warmupSeconds: 2,
      goal: 0.8,
      rounds: 4,
    });
    say(report(hb));
    results.push(hb);
    const typing = await compare({
      name: 'realtimeStartTyping (50 connections, every request writes)',
      path: '/actions/realtimeStartTyping',
      body: () => {
        const u = pick();
        return envelope('realtimeStartTyping', { roomId: `channel:r${u % ROOMS}` }, u);
      },
      ours,
      bare,
      seconds,
      warmupSeconds: 2,
      goal: 0.8,
      rounds: 4,
    });
    say(report(typing));
    results.push(typing);
    const broadcastBody = () => {
      const u = pick();
      return envelope('realtimeBroadcast', { roomId: `channel:r${u % ROOMS}`, type: 'message:new', payload: { text: 'hello there', n: u } }, u);
    };
    const viaBare = await compare({ name: 'realtimeBroadcast vs the bare server running its SQL', path: '/actions/realtimeBroadcast', body: broadcastBody, ours, bare, seconds, warmupSeconds: 2, goal: 0.8, rounds: 4 });
    say(report(viaBare));
    results.push(viaBare);

    // Raw INSERTs of the same rows, no HTTP, alternated with the action round by round so the machine's load
    // drift hits both alike; the ratio is the median of the rounds' ratios.
    const rounds = 4;
    const per = Math.max(2, Math.round(seconds / 2));
    const ratios: number[] = [];
    let rawRows = 0;
    let ourRequests = 0;
    const { load } = await import('./roundtrip-lib.js');
    for (let i = 0; i < rounds; i++) {
      const raw = await start('raw-inserts', { ...env, BENCH_SECONDS: String(per), BENCH_ROOMS: String(ROOMS) });
      const rows = Number(await raw.done);
      const l = await load({ url: ours.url, path: '/actions/realtimeBroadcast', body: broadcastBody, seconds: per });
      if (l.non2xx || l.errors) throw new Error(`broadcast answered ${l.non2xx} non-2xx and ${l.errors} errors`);
      rawRows += rows;
      ourRequests += l.total;
      ratios.push(l.total / rows);
    }
    ratios.sort((x, y) => x - y);
    const ratio = (ratios[1]! + ratios[2]!) / 2;
    const rawRate = rawRows / (per * rounds);
    const ourRate = ourRequests / (per * rounds);
    say(`realtimeBroadcast vs raw INSERTs through pg (50 loops on a 10-connection pool, no HTTP), ${rounds} alternating rounds of ${per} s\n  raw   ${rawRate.toFixed(0).padStart(7)} rows/s\n  ours  ${ourRate.toFixed(0).padStart(7)} req/s\n  round ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}\n  ratio ${ratio.toFixed(2)}× (median; goal ≥ 0.60×) ${ratio >= 0.6 ? 'met' : 'NOT met'}`);
    results.push({ name: 'realtimeBroadcast vs raw INSERTs', ours: { requestsPerSecond: ourRate } as never, bare: { requestsPerSecond: rawRate } as never, ratio, goal: 0.6 });
    return results;
  } finally {
    await ours.stop();
    await bare.stop();
    await pool.end();
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ seconds: process.argv[2] ? Number(process.argv[2]) : undefined });
}
