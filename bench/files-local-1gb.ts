/**
 * Memory of the handler server while 1 GB goes up and comes back down through the local driver's signed
 * URLs, with the work between (the harness delivers the status event; the job moves the upload into place,
 * re-hashing it): the server runs in its own process, its RSS is sampled every 20 ms from /proc, and the
 * growth over its RSS after a warm-up upload is reported. Goal: < 64 MB (the bytes stream; nothing holds a
 * file).
 * Not a test.
 *
 *   npx tsx bench/files-local-1gb.ts [megabytes]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createScratchDatabase } from '../test/support/db.js';
import { SECRET_HEADER } from '../src/core/dispatch.js';
import { hasuraDir } from '../src/core/paths.js';
import { createHasuraHarness } from '../src/testing/index.js';
import { startServer } from './files-upload.js';

const SECRET = 'bench-webhook-secret-0123456789';
const MB = 1024 * 1024;

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** `size` bytes of a repeating 1 MiB pattern, made as they are read. */
function body(size: number, chunk: Buffer): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

export async function run(opts: { megabytes?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const size = (opts.megabytes ?? 1024) * MB;
  const dir = mkdtempSync(join(tmpdir(), 'bench-1gb-'));
  const db = await createScratchDatabase('bench_1gb');
  const { child, url, pid } = await startServer({
    DATABASE_URL: db.url,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    DATA_DIR: dir,
    JOBS_DIR: join(dir, 'jobs'),
    JOBS_QUEUES: 'files.scan,files.media',
  });
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 50 },
  });
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  await sql.query(`update files.bucket set max_size = $1, user_quota = null where id = 'default'`, [size * 2]);
  const ready = async (id: string) => {
    for (;;) {
      await harness.drain({ timeoutMs: 120_000 });
      const r = await sql.query<{ status: string }>('select status from files.file where id = $1', [id]);
      if (r.rows[0]?.status === 'ready') return;
      if (r.rows[0]?.status !== 'uploaded' && r.rows[0]?.status !== 'processing') throw new Error(`file is ${r.rows[0]?.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  const action = async (name: string, input: Record<string, unknown>) => {
    const res = await fetch(`${url}/actions/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SECRET_HEADER]: SECRET },
      body: JSON.stringify({ action: { name }, input, session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'bench' }, request_query: '' }),
    });
    const out = (await res.json()) as Record<string, any>;
    if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(out)}`);
    return out;
  };
  const pattern = Buffer.alloc(MB);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31) & 0xff;
  const roundTrip = async (bytes: number) => {
    const up = await action('filesCreateUpload', { name: 'big.bin', mimeType: 'application/octet-stream', size: bytes });
    const put = await fetch(up.url, { method: 'PUT', headers: { ...up.headers, 'content-length': String(bytes) }, body: Readable.toWeb(body(bytes, pattern)) as ReadableStream, duplex: 'half' } as RequestInit);
    if (put.status !== 200) throw new Error(`PUT ${put.status} ${await put.text()}`);
    const done = await action('filesCompleteUpload', { id: up.id });
    await ready(up.id);
    const dl = await action('filesGetDownloadUrl', { id: up.id });
    const res = await fetch(dl.url);
    const hash = createHash('sha256');
    let got = 0;
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(c);
      got += c.length;
    }
    if (got !== bytes || hash.digest('hex') !== done.sha256) throw new Error('the download differs from the upload');
  };

  try {
    await roundTrip(8 * MB);
    await new Promise((r) => setTimeout(r, 500));
    const baseline = rssOf(pid);
    let peak = baseline;
    const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
    const t = performance.now();
    await roundTrip(size);
    const seconds = (performance.now() - t) / 1000;
    clearInterval(timer);
    const growth = (peak - baseline) / MB;
    say(
      `${size / MB} MB up and down through the local driver in ${seconds.toFixed(1)} s (${((2 * size) / MB / seconds).toFixed(0)} MB/s both ways): ` +
        `server RSS ${(baseline / MB).toFixed(0)} MB → peak ${(peak / MB).toFixed(0)} MB, growth ${growth.toFixed(1)} MB (goal < 64 MB)`,
    );
    return { megabytes: size / MB, seconds, baselineRssMB: baseline / MB, peakRssMB: peak / MB, growthMB: growth };
  } finally {
    await harness.close();
    await sql.end();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ megabytes: process.argv[2] ? Number(process.argv[2]) : undefined });
}
