/** Shared by the dev-* benchmarks: a scratch table, the endpoint in its own process, and its CPU time. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createScratchDatabase, type ScratchDatabase } from '../test/support/db.js';

const here = dirname(fileURLToPath(import.meta.url));

export const BENCH_METADATA = {
  version: 3,
  sources: [
    {
      name: 'default',
      kind: 'postgres',
      configuration: {},
      tables: [
        {
          table: { schema: 'public', name: 'items' },
          select_permissions: [{ role: 'user', permission: { columns: ['id', 'owner', 'title', 'score', 'created_at'], filter: { owner: { _eq: 'X-Hasura-User-Id' } } } }],
        },
      ],
    },
  ],
};

export async function benchDatabase(rows: number): Promise<{ db: ScratchDatabase; pool: pg.Pool }> {
  const db = await createScratchDatabase('dev_bench');
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  await pool.query(`CREATE TABLE items (id int PRIMARY KEY, owner text NOT NULL, title text NOT NULL, score int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO items SELECT i, 'u' || (i % 100), 'item ' || i, i % 7, now() FROM generate_series(1, ${rows}) i; ANALYZE items;`);
  return { db, pool };
}

export interface Endpoint {
  url: string;
  pid: number;
  cpuMs(): number;
  stop(): Promise<void>;
}

export function startEndpoint(databaseUrl: string, refetchMs = 1000): Promise<Endpoint> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'dev-endpoint-server.ts')], {
    env: { ...process.env, DEV_BENCH_DATABASE_URL: databaseUrl, DEV_BENCH_METADATA: JSON.stringify(BENCH_METADATA), DEV_BENCH_REFETCH_MS: String(refetchMs) },
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
        cpuMs: () => {
          const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return (Number(f[11]) + Number(f[12])) * 10;
        },
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`endpoint exited with ${code} before it was ready`)));
  });
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
