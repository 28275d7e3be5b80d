/**
 * A real clamd (Debian's clamav-daemon) for tests and benchmarks, started on a private Unix socket and TCP
 * port with a signature database written here: the EICAR test file by hash and by body (freshclam cannot
 * download the official one on this machine). Fails loudly when clamd is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClamdClient } from '../../lib/clamd.js';

/** The 68-byte EICAR anti-virus test file. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export function which(binary: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) {
    throw new Error(`${binary} is not installed: the files tests need it (apt-get install clamav-daemon ffmpeg poppler-utils, as .ci/run does)`);
  }
  return path;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Clamd {
  socket: string;
  /** Its clamd.conf (clamdscan reads the socket from it). */
  conf: string;
  port: number;
  client(timeoutMs?: number): ClamdClient;
  /** Stops clamd (an outage) without removing its files… */
  halt(): Promise<void>;
  /** …and starts it again on the same socket and port. */
  launch(): Promise<void>;
  stop(): Promise<void>;
}

export async function startClamd(opts: { streamMaxLength?: string } = {}): Promise<Clamd> {
  const clamd = existsSync('/usr/sbin/clamd') ? '/usr/sbin/clamd' : which('clamd');
  const dir = mkdtempSync(join(tmpdir(), 'files-clamd-'));
  const db = join(dir, 'db');
  spawnSync('mkdir', ['-p', db]);
  const md5 = createHash('md5').update(EICAR).digest('hex');
  writeFileSync(join(db, 'test.hdb'), `${md5}:${EICAR.length}:Files.Test.EICAR\n`);
  const body = Buffer.from('EICAR-STANDARD-ANTIVIRUS-TEST-FILE').toString('hex');
  writeFileSync(join(db, 'test.ndb'), `Files.Test.EICAR.Body:0:*:${body}\n`);
  const socket = join(dir, 'clamd.sock');
  const port = await freePort();
  const conf = join(dir, 'clamd.conf');
  writeFileSync(
    conf,
    [
      `DatabaseDirectory ${db}`,
      `LocalSocket ${socket}`,
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      'Foreground yes',
      `PidFile ${join(dir, 'clamd.pid')}`,
      `StreamMaxLength ${opts.streamMaxLength ?? '100M'}`,
      'LogTime no',
      '',
    ].join('\n'),
  );
  let child: ChildProcess;
  let stderr = '';
  let exited: Promise<void> = Promise.resolve();
  const client = (timeoutMs = 10_000) => new ClamdClient({ socket, timeoutMs });

  const launch = async () => {
    child = spawn(clamd, [`--config-file=${conf}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const c = child;
    exited = new Promise<void>((r) => c.once('exit', () => r()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`clamd exited (${c.exitCode}): ${stderr}`);
      try {
        await client(1000).ping();
        return;
      } catch {
        if (Date.now() > deadline) {
          c.kill('SIGKILL');
          throw new Error(`clamd did not answer PING within 30 s: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    rmSync(socket, { force: true });
  };
  await launch();
  return {
    socket,
    conf,
    port,
    client,
    halt,
    launch,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
