/**
 * Upload throughput to S3 (s3rver): 100 files of 5 MB through the product's path — `filesCreateUpload`
 * (Hasura's action call into the real server), a presigned PUT straight to storage, `filesCompleteUpload`
 * (stat, type sniff, quota, status) — against the `minio` client's `putObject` of the same files to the same
 * s3rver. Four uploads in flight on both sides; the two alternate in batches, totals compared.
 * s3rver and the handler server run in processes of their own, as storage, server and browser do: in one
 * process the server would wait behind the client's and the storage's work on one event loop.
 * Goal ≥ 0.90×. Not a test.
 *
 *   npx tsx bench/files-upload.ts [files] [rounds]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Minio from 'minio';
import { spawn, type ChildProcess } from 'node:child_process';
import { createScratchDatabase } from '../test/support/db.js';
import pg from 'pg';
import { freePort } from '../src/plugins/files/__tests__/support/fixture.js';
import { SECRET_HEADER } from '../src/core/dispatch.js';

const SECRET = 'bench-webhook-secret-0123456789';
const BUCKET = 'bench-files';
const SIZE = 5 * 1024 * 1024;
const IN_FLIGHT = 4;

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** s3rver in a child process; resolves with its port. */
function startS3rver(directory: string): Promise<{ child: ChildProcess; port: number }> {
  const script = `const S3rver = require('s3rver');
    new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(directory)}, configureBuckets: [{ name: ${JSON.stringify(BUCKET)}, configs: [] }] })
      .run().then(({ port }) => console.log(port));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code})`)));
    child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
  });
}

/** User + system CPU time of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** bench/files-server.ts in a child process, on a free port that is also its PUBLIC_URL; resolves with its URL. */
export async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; pid: number }> {
  const port = await freePort();
  env = { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, ...env };
  const root = fileURLToPath(new URL('..', import.meta.url));
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`.
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', join(root, 'bench', 'files-server.ts')], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\S+) (\d+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, pid: Number(m[2]) });
    });
  });
}

export async function run(opts: { files?: number; rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const files = opts.files ?? 100;
  const rounds = opts.rounds ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'bench-upload-'));
  const { child: s3rver, port } = await startS3rver(join(dir, 's3'));
  const db = await createScratchDatabase('bench_files');
  const { child: serverProcess, url, pid } = await startServer({
    DATABASE_URL: db.url,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    DATA_DIR: dir,
    JOBS_DIR: join(dir, 'jobs'),
    FILES_STORAGE: 's3',
    FILES_S3_URL: `http://127.0.0.1:${port}`,
    FILES_S3_ACCESS_KEY: 'S3RVER',
    FILES_S3_SECRET_KEY: 'S3RVER',
    FILES_S3_BUCKET: BUCKET,
    JOBS_WORKERS: 'false',
  });
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  await sql.query(`update files.bucket set user_quota = null, max_size = 10485760 where id = 'default'`);
  await sql.end();
  const mc = new Minio.Client({ endPoint: '127.0.0.1', port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', region: 'us-east-1', pathStyle: true });
  const bodies = Array.from({ length: 8 }, () => randomBytes(SIZE));

  const action = async (name: string, input: Record<string, unknown>) => {
    const res = await fetch(`${url}/actions/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SECRET_HEADER]: SECRET },
      body: JSON.stringify({ action: { name }, input, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'bench' }, request_query: '' }),
    });
    const body = (await res.json()) as Record<string, any>;
    if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const phases = { create: 0, put: 0, complete: 0 };
  const ours = async (i: number) => {
    const bytes = bodies[i % bodies.length]!;
    let t = performance.now();
    const up = await action('filesCreateUpload', { name: `f${i}.bin`, mimeType: 'application/octet-stream', size: SIZE, method: 'PUT' });
    phases.create += performance.now() - t;
    t = performance.now();
    const put = await fetch(up.url, { method: 'PUT', headers: up.headers, body: bytes });
    if (!put.ok) throw new Error(`PUT ${put.status}`);
    await put.arrayBuffer();
    phases.put += performance.now() - t;
    t = performance.now();
    const done = await action('filesCompleteUpload', { id: up.id });
    phases.complete += performance.now() - t;
    if (done.status !== 'uploaded') throw new Error(`completed as ${done.status}`);
  };
  const direct = async (i: number) => {
    await mc.putObject(BUCKET, `direct/${i}-${Math.random()}`, bodies[i % bodies.length]!, SIZE, { 'Content-Type': 'application/octet-stream' });
  };

  try {
    await pool([0, 1, 2, 3], IN_FLIGHT, ours);
    await pool([0, 1, 2, 3], IN_FLIGHT, direct);
    let oursMs = 0;
    let directMs = 0;
    let serverCpuMs = 0;
    const batch = Array.from({ length: files / rounds | 0 || 1 }, (_, i) => i);
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      await pool(batch, IN_FLIGHT, direct);
      directMs += performance.now() - t;
      t = performance.now();
      const cpu0 = cpuMs(pid);
      await pool(batch, IN_FLIGHT, ours);
      serverCpuMs += cpuMs(pid) - cpu0;
      oursMs += performance.now() - t;
    }
    const n = batch.length * rounds;
    const oursMBs = (n * SIZE) / 1024 / 1024 / (oursMs / 1000);
    const directMBs = (n * SIZE) / 1024 / 1024 / (directMs / 1000);
    const ratio = oursMBs / directMBs;
    say(`handler server CPU per upload (both actions): ${(serverCpuMs / n).toFixed(1)} ms`);
    say(`time per upload in flight: create ${(phases.create / (n + 4)).toFixed(1)} ms, PUT ${(phases.put / (n + 4)).toFixed(1)} ms, complete ${(phases.complete / (n + 4)).toFixed(1)} ms; putObject ${(directMs * IN_FLIGHT / n).toFixed(1)} ms`);
    say(`${n} uploads of 5 MB to s3rver, ${IN_FLIGHT} in flight: create+presigned PUT+complete ${oursMBs.toFixed(1)} MB/s, minio putObject ${directMBs.toFixed(1)} MB/s → ${ratio.toFixed(2)}× (goal ≥ 0.90×)`);
    return { uploads: n, sizeBytes: SIZE, inFlight: IN_FLIGHT, oursMBs, putObjectMBs: directMBs, ratio, serverCpuMsPerUpload: serverCpuMs / n };
  } finally {
    serverProcess.kill('SIGTERM');
    await new Promise((r) => serverProcess.once('exit', r));
    s3rver.kill('SIGTERM');
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ files: process.argv[2] ? Number(process.argv[2]) : undefined, rounds: process.argv[3] ? Number(process.argv[3]) : undefined });
}
