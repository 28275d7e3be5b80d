/** Shared by the dev-* benchmarks: a scratch table, the endpoint in its own process, and its CPU time. */
import pg from 'pg';
import { cpuMs, startBenchProcess } from './roundtrip-lib.js';
import { createScratchDatabase, type ScratchDatabase } from '../test/support/db.js';


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

export async function startEndpoint(databaseUrl: string, refetchMs = 1000): Promise<Endpoint> {
  const handle = await startBenchProcess('dev-endpoint-server.ts', [], {
    DEV_BENCH_DATABASE_URL: databaseUrl,
    DEV_BENCH_METADATA: JSON.stringify(BENCH_METADATA),
    DEV_BENCH_REFETCH_MS: String(refetchMs),
  });
  return { ...handle, cpuMs: () => cpuMs(handle.pid) ?? 0 };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
