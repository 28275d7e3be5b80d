/**
 * TURN credentials against a real coturn (Debian's `coturn`, started here on a free local port with
 * use-auth-secret): turnutils_uclient allocates a relay and echoes through it with the credentials
 * realtimeIceServers hands out, and fails to allocate with expired or forged ones.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { turnCredential } from '../lib/ice.js';
import { errorCode, startRealtime, type Realtime } from './support/fixture.js';

const run = promisify(execFile);
const TURN_SECRET = 'turn-static-auth-secret-0123456789';

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs turnutils_uclient: one client, a few messages echoed through its relay to the peer on 127.0.0.1. */
async function allocate(port: number, username: string, password: string): Promise<{ ok: boolean; output: string }> {
  try {
    const r = await run('turnutils_uclient', ['-p', String(port), '-u', username, '-w', password, '-n', '2', '-m', '1', '-y', '-c', '-e', '127.0.0.1', '127.0.0.1'], { timeout: 20_000 });
    return { ok: !/Cannot complete Allocation/.test(r.stdout + r.stderr), output: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

let turn: ChildProcess;
let port: number;
let rt: Realtime;
let turnLog = '';

beforeAll(async () => {
  port = await freeUdpPort();
  const relayFrom = 40_000 + Math.floor(Math.random() * 200) * 100;
  turn = spawn('turnserver', [
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    `--min-port=${relayFrom}`, `--max-port=${relayFrom + 99}`,
    '--use-auth-secret', `--static-auth-secret=${TURN_SECRET}`, '--realm=nself.test',
    '--no-tls', '--no-dtls', '--no-cli', '--no-tcp-relay', '--allow-loopback-peers', '--fingerprint',
    '--log-file=stdout', '--simple-log', `--pidfile=/tmp/nself-turn-${port}.pid`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  turn.stdout!.on('data', (d: Buffer) => (turnLog += d.toString()));
  turn.stderr!.on('data', (d: Buffer) => (turnLog += d.toString()));
  // Ready once it answers a STUN binding request on the port.
  for (let i = 0; ; i++) {
    const probe = await run('turnutils_stunclient', ['-p', String(port), '127.0.0.1'], { timeout: 5000 }).then(() => true, () => false);
    if (probe) break;
    if (i >= 50) throw new Error(`coturn did not start:\n${turnLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  rt = await startRealtime('rt_turn', {
    REALTIME_STUN_URLS: `stun:127.0.0.1:${port}`,
    REALTIME_TURN_URLS: `turn:127.0.0.1:${port}?transport=udp`,
    REALTIME_TURN_SECRET: TURN_SECRET,
    REALTIME_TURN_TTL_SECONDS: '600',
  });
});

afterAll(async () => {
  await rt?.close();
  if (turn && turn.exitCode === null) {
    const exited = new Promise((r) => turn.once('exit', r));
    turn.kill('SIGTERM');
    await exited;
  }
  rmSync(`/tmp/nself-turn-${port}.pid`, { force: true });
});

const ICE = 'query { realtimeIceServers { iceServers { urls username credential } ttlSeconds expiresAt } }';

describe('realtimeIceServers with coturn', () => {
  it('hands out STUN and time-limited TURN credentials that allocate a relay', async () => {
    const res = await rt.as('alice', ICE);
    expect(res.errors).toBeUndefined();
    const { iceServers, ttlSeconds, expiresAt } = res.data.realtimeIceServers;
    expect(ttlSeconds).toBe(600);
    expect(iceServers[0]).toEqual({ urls: [`stun:127.0.0.1:${port}`], username: null, credential: null });
    const turnServer = iceServers[1];
    expect(turnServer.urls).toEqual([`turn:127.0.0.1:${port}?transport=udp`]);
    const [expiry, userId] = turnServer.username.split(':');
    expect(userId).toBe('alice');
    expect(Number(expiry) * 1000).toBe(Date.parse(expiresAt));
    expect(Number(expiry) - Date.now() / 1000).toBeGreaterThan(590);

    const ok = await allocate(port, turnServer.username, turnServer.credential);
    expect(ok.ok).toBe(true);
    // Messages went out through the relay and came back from the peer.
    const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(ok.output);
    expect(Number(totals?.[2])).toBeGreaterThan(0);
    expect(ok.output).toMatch(/Total lost packets 0 /);
  });

  it('fails to allocate with a forged credential', async () => {
    const { data } = await rt.as('alice', ICE);
    const turnServer = data.realtimeIceServers.iceServers[1];
    const forged = turnCredential('not-the-secret-0123456789', 'alice', Number(turnServer.username.split(':')[0]));
    expect((await allocate(port, turnServer.username, forged.credential)).ok).toBe(false);
    // Another user's name with this user's password: the HMAC covers the name.
    expect((await allocate(port, turnServer.username.replace(':alice', ':mallory'), turnServer.credential)).ok).toBe(false);
  });

  it('fails to allocate with an expired credential', async () => {
    const expired = turnCredential(TURN_SECRET, 'alice', Math.floor(Date.now() / 1000) - 60);
    expect((await allocate(port, expired.username, expired.credential)).ok).toBe(false);
    // The same secret and a future expiry works: only the expiry made the difference.
    const fresh = turnCredential(TURN_SECRET, 'alice', Math.floor(Date.now() / 1000) + 60);
    expect((await allocate(port, fresh.username, fresh.credential)).ok).toBe(true);
  });

  it('needs a user', async () => {
    const res = await rt.harness.graphql(ICE, {}, { role: 'user' });
    expect(errorCode(res)).toBe('realtime/no-user');
    expect(errorCode(await rt.harness.graphql(ICE, {}, { role: 'anonymous' }))).toBe('validation-failed');
  });
});
