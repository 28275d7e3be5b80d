/**
 * Two handler servers in two processes on different ports, one database: every flow works whichever replica
 * Hasura calls for each step, and the rate limits hold across them (they live in PostgreSQL rows).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasuraDir } from '../../../core/paths.js';
import { createHasuraHarness, type HasuraHarness } from '../../../testing/index.js';
import { REDIS_URL } from '../../../../test/support/db.js';
import { awayFromMinuteEdge, REDIS_DB, SECRET, seedRoom, startRealtime, user, type Realtime } from './support/fixture.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Replica {
  child: ChildProcess;
  url: string;
  harness: HasuraHarness;
}

async function startReplica(databaseUrl: string): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support', 'server-child.ts')], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      DATABASE_URL: databaseUrl,
      REDIS_URL: `${REDIS_URL}/${REDIS_DB}`,
      NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: 'silent',
      JOBS_WORKERS: 'false',
      REALTIME_HEARTBEAT_MIN_INTERVAL_MS: '60000',
      REALTIME_TYPING_MIN_INTERVAL_MS: '60000',
      REALTIME_BROADCAST_PER_MINUTE: '10',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('replica did not start')), 60_000);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`replica exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  // Only actions go through these harnesses; event delivery stays off.
  const harness = await createHasuraHarness({
    databaseUrl,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    autoStart: false,
    poolSize: 4,
  });
  return { child, url, harness };
}

async function stopReplica(r: Replica | undefined): Promise<void> {
  if (!r) return;
  await r.harness.close();
  if (r.child.exitCode === null) {
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGTERM');
    await exited;
  }
}

let rt: Realtime;
let a: Replica;
let b: Replica;

beforeAll(async () => {
  rt = await startRealtime('rt_replicas'); // applies the migrations once
  [a, b] = await Promise.all([startReplica(rt.db.url), startReplica(rt.db.url)]);
  await seedRoom(rt.pool, 'channel:r', { ann: 'owner', bo: 'member' }, true);
}, 120_000);

afterAll(async () => {
  await Promise.all([stopReplica(a), stopReplica(b)]);
  await rt?.close();
});

const on = (r: Replica, who: string, doc: string, vars: Record<string, unknown> = {}) => r.harness.graphql<any>(doc, vars, user(who));
const ok = <T>(res: { data?: T | null; errors?: unknown }): T => {
  expect(res.errors).toBeUndefined();
  return res.data!;
};

describe('two replicas', () => {
  it('run on different ports', () => {
    expect(a.url).not.toBe(b.url);
  });

  it('serve rooms, broadcasts and typing interchangeably', async () => {
    ok(await on(a, 'ann', 'mutation { realtimeJoinRoom(roomId: "channel:r", userId: "cy") { created } }'));
    const sent = ok(await on(b, 'cy', 'mutation { realtimeBroadcast(roomId: "channel:r", type: "hello", payload: {x: 1}) { id recipientCount } }'));
    expect(sent.realtimeBroadcast.recipientCount).toBe(3);
    expect(await rt.harness.select('user', user('bo'), { schema: 'realtime', name: 'event' }, { type: { _eq: 'hello' } })).toHaveLength(1);

    const t1 = ok(await on(a, 'cy', 'mutation { realtimeStartTyping(roomId: "channel:r") { throttled } }'));
    const t2 = ok(await on(b, 'cy', 'mutation { realtimeStartTyping(roomId: "channel:r") { throttled } }'));
    expect([t1.realtimeStartTyping.throttled, t2.realtimeStartTyping.throttled]).toEqual([false, true]);
    ok(await on(b, 'ann', 'mutation { realtimeLeaveRoom(roomId: "channel:r", userId: "cy") { left } }'));
    const refused = await on(a, 'cy', 'mutation { realtimeBroadcast(roomId: "channel:r", type: "hello") { id } }');
    expect((refused.errors?.[0]?.extensions as { code?: string } | undefined)?.code).toBe('realtime/not-a-member');
  });

  it('rate-limit a heartbeat storm spread over both without errors: one write', async () => {
    const doc = 'mutation { realtimeHeartbeat(deviceId: "web") { throttled status } }';
    const results = await Promise.all(Array.from({ length: 100 }, (_, n) => on(n % 2 ? a : b, 'bo', doc)));
    expect(results.filter((r) => r.errors)).toEqual([]);
    expect(results.filter((r) => !r.data.realtimeHeartbeat.throttled)).toHaveLength(1);
    expect(new Set(results.map((r) => r.data.realtimeHeartbeat.status))).toEqual(new Set(['online']));
  });

  it('hold the per-user broadcast limit across both', async () => {
    await seedRoom(rt.pool, 'channel:busy', { gus: 'member' });
    const doc = 'mutation { realtimeBroadcast(roomId: "channel:busy", type: "tick") { id } }';
    await awayFromMinuteEdge(rt.pool);
    const results = await Promise.all(Array.from({ length: 16 }, (_, n) => on(n % 2 ? a : b, 'gus', doc)));
    expect(results.filter((r) => !r.errors)).toHaveLength(10);
    expect(results.filter((r) => r.errors).map((r) => (r.errors![0]!.extensions as { code?: string }).code)).toEqual(Array(6).fill('realtime/rate-limited'));
  });

  it('carry a call from start to end, each step on the other replica', async () => {
    const call = ok(await on(a, 'ann', 'mutation { realtimeStartCall(type: video, userIds: ["bo"]) { id state } }')).realtimeStartCall;
    expect(call.state).toBe('ringing');
    expect(ok(await on(b, 'bo', `mutation { realtimeAnswerCall(callId: "${call.id}") { state } }`)).realtimeAnswerCall.state).toBe('active');
    const again = await on(a, 'bo', `mutation { realtimeAnswerCall(callId: "${call.id}") { state } }`);
    expect((again.errors?.[0]?.extensions as { code?: string } | undefined)?.code).toBe('realtime/already-answered');
    ok(await on(a, 'ann', `mutation { realtimeSendSignal(callId: "${call.id}", toUserId: "bo", kind: offer, payload: {sdp: "v=0"}) { ids } }`));
    ok(await on(b, 'bo', `mutation { realtimeSendSignal(callId: "${call.id}", toUserId: "ann", kind: answer, payload: {sdp: "v=0"}) { ids } }`));
    expect(ok(await on(a, 'bo', `mutation { realtimeEndCall(callId: "${call.id}") { state } }`)).realtimeEndCall.state).toBe('ended');
    const signals = await rt.pool.query(`SELECT from_user_id, to_user_id, kind FROM realtime.signal WHERE call_id = $1 ORDER BY id`, [call.id]);
    expect(signals.rows).toEqual([
      { from_user_id: 'ann', to_user_id: 'bo', kind: 'offer' },
      { from_user_id: 'bo', to_user_id: 'ann', kind: 'answer' },
    ]);
  });

  it('let only one of two simultaneous calls to the same person ring', async () => {
    await seedRoom(rt.pool, 'channel:r2', { dan: 'member', eli: 'member', fay: 'member' });
    const [x, y] = await Promise.all([
      on(a, 'dan', 'mutation { realtimeStartCall(type: audio, userIds: ["fay"]) { state } }'),
      on(b, 'eli', 'mutation { realtimeStartCall(type: audio, userIds: ["fay"]) { state } }'),
    ]);
    expect([ok(x).realtimeStartCall.state, ok(y).realtimeStartCall.state].sort()).toEqual(['busy', 'ringing']);
  });
});
