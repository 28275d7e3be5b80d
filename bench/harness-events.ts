/**
 * Harness event throughput: insert N rows (default 10,000) into a table with an INSERT event trigger and wait
 * until the harness has delivered every event to a handler that records a receipt keyed on the event id
 * (`ctx.once` in the real handler server: BEGIN; INSERT … ON CONFLICT DO NOTHING; COMMIT). Reported against
 * the raw insert rate of the same rows into the same table shape without a trigger, measured in the same run.
 * Not a test.
 *
 *   npx tsx bench/harness-events.ts [rows] [--handler server|bare] [--batch 100] [--pool 100]
 *
 * `--handler server` (default) serves the trigger with createRuntime + createServer from src/core;
 * `--handler bare` is a node:http server doing the same single INSERT … ON CONFLICT DO NOTHING through pg;
 * `--handler noop` answers 200 without touching the database (the harness's own ceiling).
 * The handler runs in its own process so it does not share an event loop with the poller.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createScratchDatabase } from '../test/support/db.js';
import { createHasuraHarness } from '../src/testing/index.js';

const SECRET = 'bench-harness-secret-0123456789';
const TRIGGER = 'benchh_item_created';
const INSERT_BATCH = 500;

export type HandlerKind = 'server' | 'bare' | 'noop';

export interface HarnessEventsResult {
  rows: number;
  handler: HandlerKind;
  fetchBatchSize: number;
  httpPoolSize: number;
  rawInsertRowsPerSecond: number;
  insertWithTriggerRowsPerSecond: number;
  eventsPerSecond: number;
  ratioToRawInsert: number;
  delivered: number;
  receipts: number;
}

/* ------------------------------------------------------------------ handler process */

async function serve(kind: HandlerKind): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL!;
  let server: http.Server;
  let close: () => Promise<void>;
  if (kind === 'noop') {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    close = async () => undefined;
  } else if (kind === 'bare') {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    pool.on('error', () => undefined);
    await pool.query('CREATE TABLE IF NOT EXISTS bench_bare_receipt (key text PRIMARY KEY)');
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.headers['x-nself-plugins-secret'] !== SECRET) return void res.writeHead(401).end();
        const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id;
        pool.query('INSERT INTO bench_bare_receipt (key) VALUES ($1) ON CONFLICT DO NOTHING', [id]).then(
          () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
          () => res.writeHead(500).end(),
        );
      });
    });
    close = () => pool.end();
  } else {
    const [{ definePlugin }, { createRuntime }, { createServer }, { pino }] = await Promise.all([
      import('../src/core/plugin.js'),
      import('../src/core/runtime.js'),
      import('../src/core/server.js'),
      import('pino'),
    ]);
    const plugin = definePlugin({
      name: 'benchh',
      version: '1.0.0',
      description: 'harness benchmark plugin',
      tables: [
        {
          table: { schema: 'benchh', name: 'items' },
          event_triggers: [{ name: TRIGGER, definition: { insert: { columns: '*' } }, handler: async (event, ctx) => void (await ctx.once(event.id, async () => undefined)) }],
        },
      ],
    });
    const runtime = await createRuntime(
      { ...process.env, PLUGINS_ENABLED: 'benchh', NSELF_PLUGINS_WEBHOOK_SECRET: SECRET, DATABASE_POOL_MAX: '10' },
      { plugins: [plugin], actionsSdl: () => undefined, log: pino({ level: 'warn' }) },
    );
    const s = createServer(runtime);
    await s.listen(0, '127.0.0.1');
    server = s.http;
    close = () => s.shutdown('bench done');
  }
  if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => void close().finally(() => process.exit(0)));
}

function startHandler(kind: HandlerKind, databaseUrl: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', kind], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+)/.exec(buf);
      if (m) {
        buf = '';
        resolve({
          url: `http://127.0.0.1:${m[1]}`,
          stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`handler process exited with ${code} before it was ready`)));
  });
}

/* ------------------------------------------------------------------ measurement */

function writeMetadata(dir: string): void {
  mkdirSync(join(dir, 'databases/default/tables'), { recursive: true });
  writeFileSync(join(dir, 'version.yaml'), 'version: 3\n');
  writeFileSync(join(dir, 'databases/databases.yaml'), '- name: default\n  kind: postgres\n  configuration: {}\n  tables: "!include default/tables/tables.yaml"\n');
  writeFileSync(join(dir, 'databases/default/tables/tables.yaml'), '- "!include benchh_items.yaml"\n');
  writeFileSync(
    join(dir, 'databases/default/tables/benchh_items.yaml'),
    `table: {name: items, schema: benchh}
event_triggers:
  - name: ${TRIGGER}
    definition: {insert: {columns: '*'}}
    retry_conf: {num_retries: 3, interval_sec: 10, timeout_sec: 60}
    webhook: '{{NSELF_PLUGINS_URL}}/events/${TRIGGER}'
    headers: [{name: x-nself-plugins-secret, value_from_env: NSELF_PLUGINS_WEBHOOK_SECRET}]
`,
  );
}

/** Inserts `rows` rows in multi-row statements of INSERT_BATCH; returns the elapsed milliseconds. */
async function insertRows(pool: pg.Pool, table: string, rows: number): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < rows; done += INSERT_BATCH) {
    const n = Math.min(INSERT_BATCH, rows - done);
    const params: string[] = [];
    const values: string[] = [];
    for (let i = 0; i < n; i++) {
      params.push(`item ${done + i}`);
      values.push(`($${i + 1}, '{"source":"bench"}')`);
    }
    await pool.query(`INSERT INTO ${table} (title, meta) VALUES ${values.join(', ')}`, params);
  }
  return performance.now() - started;
}

export async function run(
  opts: { rows?: number; handler?: HandlerKind; fetchBatchSize?: number; httpPoolSize?: number; log?: (line: string) => void } = {},
): Promise<HarnessEventsResult> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const rows = opts.rows ?? 10_000;
  const handler = opts.handler ?? 'server';
  const fetchBatchSize = opts.fetchBatchSize ?? 100;
  const httpPoolSize = opts.httpPoolSize ?? 100;
  const db = await createScratchDatabase('bench_harness');
  const meta = mkdtempSync(join(tmpdir(), 'bench-harness-'));
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  let stopHandler: (() => Promise<void>) | undefined;
  let harness: Awaited<ReturnType<typeof createHasuraHarness>> | undefined;
  try {
    await pool.query(`CREATE SCHEMA benchh;
      CREATE TABLE benchh.items (id bigserial PRIMARY KEY, title text NOT NULL, meta jsonb, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE benchh.items_raw (LIKE benchh.items INCLUDING ALL);`);
    writeMetadata(meta);
    const h = await startHandler(handler, db.url);
    stopHandler = h.stop;
    harness = await createHasuraHarness({
      databaseUrl: db.url,
      metadataDir: meta,
      handlerBaseUrl: h.url,
      env: { NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
      events: { fetchBatchSize, httpPoolSize },
    });

    // warm up both paths (connections, JIT) outside the measurement
    await insertRows(pool, 'benchh.items_raw', 500);
    await insertRows(pool, 'benchh.items', 200);
    await harness.drain({ timeoutMs: 60_000 });
    await pool.query('TRUNCATE benchh.items_raw');

    const rawMs = await insertRows(pool, 'benchh.items_raw', rows);
    const started = performance.now();
    const insertMs = await insertRows(pool, 'benchh.items', rows);
    await harness.drain({ timeoutMs: 600_000 });
    const totalMs = performance.now() - started;

    const delivered = Number((await pool.query(`SELECT count(*) FROM hdb_catalog.event_log WHERE delivered AND trigger_name = $1`, [TRIGGER])).rows[0].count) - 200;
    const receiptSql = handler === 'bare' ? `SELECT count(*) FROM bench_bare_receipt` : `SELECT count(*) FROM nself_plugins.event_receipt WHERE handler = '${TRIGGER}'`;
    const receipts = handler === 'noop' ? rows : Number((await pool.query(receiptSql)).rows[0].count) - 200;
    const result: HarnessEventsResult = {
      rows,
      handler,
      fetchBatchSize,
      httpPoolSize,
      rawInsertRowsPerSecond: Math.round(rows / (rawMs / 1000)),
      insertWithTriggerRowsPerSecond: Math.round(rows / (insertMs / 1000)),
      eventsPerSecond: Math.round(rows / (totalMs / 1000)),
      ratioToRawInsert: rows / (totalMs / 1000) / (rows / (rawMs / 1000)),
      delivered,
      receipts,
    };
    say(
      [
        `harness event throughput: ${rows} rows, handler=${handler}, batch=${fetchBatchSize}, http pool=${httpPoolSize}`,
        `  raw insert (no trigger):        ${result.rawInsertRowsPerSecond} rows/s`,
        `  insert with trigger:            ${result.insertWithTriggerRowsPerSecond} rows/s`,
        `  insert → all delivered:         ${result.eventsPerSecond} events/s (${(totalMs / 1000).toFixed(2)} s)`,
        `  ratio to raw insert:            ${result.ratioToRawInsert.toFixed(3)}×`,
        `  delivered ${delivered}/${rows}, receipts ${receipts}/${rows}`,
      ].join('\n'),
    );
    if (delivered !== rows || receipts !== rows) throw new Error(`not every event was delivered exactly once (${delivered} delivered, ${receipts} receipts)`);
    return result;
  } finally {
    await harness?.close();
    await stopHandler?.();
    await pool.end();
    rmSync(meta, { recursive: true, force: true });
    await db.drop();
  }
}

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const serveKind = flag('--serve');
  if (serveKind) await serve(serveKind as HandlerKind);
  else {
    const rows = argv[0] && /^\d+$/.test(argv[0]) ? Number(argv[0]) : undefined;
    await run({
      rows,
      handler: (flag('--handler') as HandlerKind | undefined) ?? 'server',
      fetchBatchSize: flag('--batch') ? Number(flag('--batch')) : undefined,
      httpPoolSize: flag('--pool') ? Number(flag('--pool')) : undefined,
    });
  }
}
