/**
 * Cold start of the handler server on embedded defaults: `node dist/src/cli/main.js serve` with no
 * DATABASE_URL / REDIS_URL, a fresh DATA_DIR and a random PORT, timed from spawn to `/readyz` answering 200.
 * The first start includes initdb and every migration; the second reuses the data folder.
 *
 *   npx tsx bench/cold-start.ts            (builds first)
 *   npx tsx bench/cold-start.ts --no-build
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const mainJs = join(root, 'dist', 'src', 'cli', 'main.js');
const READY_TIMEOUT_MS = 120_000;

export interface ColdStartResult {
  /** Spawn → /readyz 200 with an empty DATA_DIR (initdb, migrations, queue schema). */
  firstStartSeconds: number;
  /** Same, reusing the data folder of the first run. */
  secondStartSeconds: number;
  /** SIGTERM → process exit, after the second start. */
  shutdownSeconds: number;
  /** Second start, split: spawn → first log line (loading modules), → "listening", → /readyz 200. */
  secondStartPhases?: { loadSeconds: number; bootSeconds: number; readySeconds: number };
}

export async function run(opts: { build?: boolean; log?: (line: string) => void } = {}): Promise<ColdStartResult> {
  const say = opts.log ?? ((l: string) => console.log(l));
  if (opts.build ?? true) {
    say('building (npm run build)…');
    const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('npm run build failed');
  }
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build`);

  const dataDir = await mkdtemp(join(tmpdir(), 'nself-cold-start-'));
  const logFile = `${dataDir}.log`;
  try {
    const first = await startOnce(dataDir, logFile);
    await first.stop();
    const second = await startOnce(dataDir, logFile);
    const shutdownSeconds = await second.stop();
    return { firstStartSeconds: first.seconds, secondStartSeconds: second.seconds, shutdownSeconds, secondStartPhases: second.phases };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
  }
}

/** Times (epoch ms) of the first log line and of "listening" written after `offset` bytes of the log. */
async function logMarks(logFile: string, offset: number): Promise<{ first?: number; listening?: number }> {
  const text = (await readFile(logFile, 'utf8').catch(() => '')).slice(offset);
  const marks: { first?: number; listening?: number } = {};
  for (const line of text.split('\n')) {
    let entry: { time?: string; msg?: string };
    try {
      entry = JSON.parse(line) as { time?: string; msg?: string };
    } catch {
      continue;
    }
    const t = entry.time ? Date.parse(entry.time) : NaN;
    if (Number.isNaN(t)) continue;
    marks.first ??= t;
    if (entry.msg?.startsWith('listening on')) marks.listening ??= t;
  }
  return marks;
}

async function startOnce(
  dataDir: string,
  logFile: string,
): Promise<{ seconds: number; phases?: ColdStartResult['secondStartPhases']; stop(): Promise<number> }> {
  const offset = (await readFile(logFile, 'utf8').catch(() => '')).length;
  const spawnedAt = Date.now();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'NODE_OPTIONS']) delete env[k];
  const out = createWriteStream(logFile, { flags: 'a' });
  await once(out, 'open');
  const t0 = performance.now();
  const child = spawn(process.execPath, [mainJs, 'serve'], { cwd: root, env, stdio: ['ignore', out, out] });
  let exited = false;
  const exit = once(child, 'exit').then(() => {
    exited = true;
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`server exited before /readyz was green; log:\n${await tail(logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`/readyz not green after ${READY_TIMEOUT_MS / 1000}s; log:\n${await tail(logFile)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t0) / 1000;
  const readyAt = Date.now();
  const marks = await logMarks(logFile, offset);
  const phases =
    marks.first !== undefined && marks.listening !== undefined
      ? { loadSeconds: (marks.first - spawnedAt) / 1000, bootSeconds: (marks.listening - marks.first) / 1000, readySeconds: (readyAt - marks.listening) / 1000 }
      : undefined;
  return {
    seconds,
    phases,
    async stop() {
      const s0 = performance.now();
      child.kill('SIGTERM');
      await exit;
      out.end();
      return (performance.now() - s0) / 1000;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? done(addr.port) : fail(new Error('no port'))));
    });
  });
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-20).join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await run({ build: !process.argv.includes('--no-build') });
  console.log(`cold start (embedded PostgreSQL + BullMQ on PostgreSQL):`);
  console.log(`  first start  (initdb + migrations): ${result.firstStartSeconds.toFixed(2)} s`);
  console.log(`  second start (existing data dir):   ${result.secondStartSeconds.toFixed(2)} s`);
  const p = result.secondStartPhases;
  if (p) {
    console.log(
      `    of which: loading modules ${p.loadSeconds.toFixed(2)} s, boot (database, migrations check, queue, plugin start) ${p.bootSeconds.toFixed(2)} s, to /readyz ${p.readySeconds.toFixed(2)} s`,
    );
  }
  console.log(`  graceful shutdown:                  ${result.shutdownSeconds.toFixed(2)} s`);
  const dir = join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cold-start.json'), JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2) + '\n');
}
