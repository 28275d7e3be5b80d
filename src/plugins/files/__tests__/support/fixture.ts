/**
 * The files plugin end to end: the real server on a real port (every plugin, as `npm start` runs them), the
 * composed hasura/metadata in the harness, BullMQ on the scratch database's PostgreSQL backend (so test
 * files never share queues), the local driver in a temporary folder or S3 on an s3rver, clamd when asked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import S3rver from 's3rver';
import { createRuntime, type ServerRuntime } from '../../../../core/runtime.js';
import { createServer, type NselfServer } from '../../../../core/server.js';
import { hasuraDir } from '../../../../core/paths.js';
import { createHasuraHarness, type HasuraHarness } from '../../../../testing/index.js';
import { createScratchDatabase } from '../../../../../test/support/db.js';
import { startClamd, type Clamd } from './clamd.js';
import type { FileRow } from '../../lib/store.js';

export const SECRET = 'files-e2e-secret-0123456789abcdef';
export const S3_BUCKET = 'nself-files';
export const alice = { role: 'user', userId: 'alice' };
export const bob = { role: 'user', userId: 'bob' };

export const errorCode = (res: { errors?: Array<{ extensions?: unknown }> }) =>
  (res.errors?.[0]?.extensions as { code?: string } | undefined)?.code;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface FilesFixture {
  runtime: ServerRuntime;
  server: NselfServer;
  harness: HasuraHarness;
  pool: pg.Pool;
  baseUrl: string;
  dataDir: string;
  clamd: Clamd | undefined;
  s3: { port: number; dir: string; url: string; stop(): Promise<void>; start(): Promise<void> } | undefined;
  gql<T = any>(doc: string, vars?: Record<string, unknown>, session?: Record<string, unknown>): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: any }> }>;
  file(id: string): Promise<FileRow | null>;
  /** Delivers events and lets jobs run until the file is in one of `statuses`. */
  settle(id: string, statuses?: readonly string[], timeoutMs?: number): Promise<FileRow>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  storage?: 'local' | 's3';
  features?: string;
  clamd?: boolean;
  env?: Record<string, string>;
}

export async function startFiles(label: string, o: FixtureOptions = {}): Promise<FilesFixture> {
  const db = await createScratchDatabase(`files_${label}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'files-e2e-'));
  const clamd = o.clamd ? await startClamd() : undefined;
  let s3rver: S3rver | undefined;
  let s3: FilesFixture['s3'];
  if (o.storage === 's3') {
    const dir = join(dataDir, 's3rver');
    const make = (port: number) => new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir, configureBuckets: [{ name: S3_BUCKET, configs: [] }] });
    s3rver = make(0);
    const { port } = await s3rver.run();
    s3 = {
      port,
      dir,
      url: `http://127.0.0.1:${port}`,
      // An outage: the objects stay on disk and come back with the server, on the same port.
      async stop() {
        await s3rver?.close();
        s3rver = undefined;
      },
      async start() {
        s3rver = make(port);
        await s3rver.run();
      },
    };
  }
  const port = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: dataDir,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    JOBS_DIR: join(dataDir, 'jobs'),
    JOBS_BACKOFF_JITTER: '0',
    // PostgreSQL's 100 connections are shared by every test running on the machine: keep to what we need.
    DATABASE_POOL_MAX: '4',
    QUEUE_DB_POOL_MAX: '3',
    JOBS_QUEUES: 'files.scan,files.media',
    FILES_FEATURES: o.features ?? 'thumbnails',
    ...(clamd ? { FILES_CLAMD_SOCKET: clamd.socket } : {}),
    ...(s3
      ? { FILES_STORAGE: 's3', FILES_S3_URL: s3.url, FILES_S3_ACCESS_KEY: 'S3RVER', FILES_S3_SECRET_KEY: 'S3RVER', FILES_S3_BUCKET: S3_BUCKET }
      : {}),
    ...o.env,
  };
  const runtime = await createRuntime(env);
  const server = createServer(runtime);
  const { url } = await server.listen(port, '127.0.0.1');
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => undefined);
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 50 },
  });
  const file = async (id: string) => (await pool.query<FileRow>('select * from files.file where id = $1', [id])).rows[0] ?? null;
  return {
    runtime,
    server,
    harness,
    pool,
    baseUrl: url,
    dataDir,
    clamd,
    s3,
    gql: (doc, vars = {}, session = alice) => harness.graphql(doc, vars, session as never) as never,
    file,
    async settle(id, statuses = ['ready', 'quarantined', 'failed'], timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        await harness.drain({ timeoutMs: 20_000 });
        const f = await file(id);
        if (f && statuses.includes(f.status)) {
          // The status change that got it here may still have an event to deliver (purge, next step).
          await harness.drain({ timeoutMs: 20_000 });
          return (await file(id))!;
        }
        if (Date.now() > end) throw new Error(`file ${id} is ${f?.status ?? 'gone'}, not ${statuses.join('|')}, after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await harness?.close();
      await pool?.end();
      await server?.shutdown('test done');
      await clamd?.stop();
      if (s3rver) await s3rver.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sends bytes where `filesCreateUpload` said: PUT with its headers, or a POST form with its fields. */
export async function send(target: { method: string; url: string; headers: Record<string, string>; fields: Record<string, string> }, bytes: Buffer, type = 'application/octet-stream'): Promise<Response> {
  if (target.method === 'PUT') {
    return fetch(target.url, { method: 'PUT', headers: target.headers, body: bytes });
  }
  const form = new FormData();
  for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
  form.append('file', new Blob([bytes], { type }), 'upload');
  return fetch(target.url, { method: 'POST', body: form });
}

export const CREATE = `mutation ($bucket: String, $name: String!, $mimeType: String!, $size: bigint!, $method: FilesUploadMethod) {
  filesCreateUpload(bucket: $bucket, name: $name, mimeType: $mimeType, size: $size, method: $method) {
    id bucket name mimeType size status method url headers fields sizeEnforced expiresAt
  }
}`;

export const COMPLETE = `mutation ($id: uuid!, $parts: [FilesCompletedPart!]) {
  filesCompleteUpload(id: $id, parts: $parts) { id bucket name mimeType size status url thumbnailUrl sha256 blurhash width height failureReason }
}`;

export const DOWNLOAD = `query ($id: uuid!, $variant: String, $disposition: FilesDisposition, $expiresIn: Int) {
  filesGetDownloadUrl(id: $id, variant: $variant, disposition: $disposition, expiresIn: $expiresIn) { id url expiresAt mimeType size name variant }
}`;

export interface Uploaded {
  id: string;
  created: any;
  completed: { data?: any; errors?: any[] };
}

/** create → send → complete, as the frontend's `upload(file)` does. */
export async function upload(
  fx: FilesFixture,
  bytes: Buffer,
  o: { name?: string; mimeType: string; bucket?: string; method?: 'PUT' | 'POST'; session?: Record<string, unknown>; declaredSize?: number },
): Promise<Uploaded> {
  const session = o.session ?? alice;
  const res = await fx.gql(CREATE, { bucket: o.bucket ?? null, name: o.name ?? 'file.bin', mimeType: o.mimeType, size: o.declaredSize ?? bytes.length, method: o.method ?? null }, session);
  if (res.errors) throw new Error(`filesCreateUpload failed: ${JSON.stringify(res.errors)}`);
  const created = res.data.filesCreateUpload;
  const sent = await send(created, bytes, o.mimeType);
  if (!sent.ok) throw new Error(`upload to storage failed: ${sent.status} ${await sent.text()}`);
  const completed = await fx.gql(COMPLETE, { id: created.id }, session);
  return { id: created.id, created, completed };
}
