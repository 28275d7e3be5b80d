/**
 * Applies the Hasura-format migrations (`hasura/migrations/default/<version>_<name>/up.sql`) in version
 * order, each in its own transaction, recorded in `nself_plugins.schema_migrations`.
 *
 * A session advisory lock serialises migrators, so N replicas starting at once apply each migration exactly
 * once (the others wait, then find nothing left to do). Migrations are append-only: an applied one whose
 * up.sql changed is an error, not silently skipped. The SQL itself is idempotent (`if not exists`, …) so
 * that `hasura migrate apply`, which keeps its own bookkeeping, can run the same folders safely.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { migrationsDir } from '../core/paths.js';

export interface Migration {
  /** Hasura's version: the numeric folder prefix (a millisecond timestamp). */
  version: string;
  /** The folder name without the version. */
  name: string;
  dir: string;
  upPath: string;
  downPath: string;
}

export interface MigrateOptions {
  /** Default: the package's `hasura/migrations/default`. */
  dir?: string;
  log?: Logger;
  /**
   * Only the foundation migrations (`<version>_nself_plugins_<what>`) and those of these plugins
   * (`<version>_<plugin>_<what>`). Default: every migration.
   */
  plugins?: string[];
}

export interface RevertOptions {
  dir?: string;
  log?: Logger;
  /** Revert every applied migration with a version greater than this one (default: all). */
  to?: string;
  /** Only these plugins' migrations (the foundation stays). Default: every migration. */
  plugins?: string[];
}

export const FOUNDATION = 'nself_plugins';
const TRACKING_SCHEMA = 'nself_plugins';
const TRACKING_TABLE = `${TRACKING_SCHEMA}.schema_migrations`;
/** pg_advisory_lock(key1, key2): "nsel" + 1, so it cannot collide with BullMQ's or Hasura's keys. */
const LOCK_KEYS = [0x6e73656c, 1] as const;

/** The migration folders of `dir`, sorted by version. Bad folder names are an error, not skipped. */
export async function listMigrations(dir: string = migrationsDir): Promise<Migration[]> {
  if (!existsSync(dir)) return [];
  const out: Migration[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const m = /^(\d+)_([A-Za-z0-9_-]+)$/.exec(entry.name);
    if (!m) throw new Error(`migration folder ${entry.name} in ${dir} is not named <version>_<name>`);
    const folder = join(dir, entry.name);
    out.push({ version: m[1]!, name: m[2]!, dir: folder, upPath: join(folder, 'up.sql'), downPath: join(folder, 'down.sql') });
  }
  out.sort((a, b) => compareVersions(a.version, b.version));
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) throw new Error(`two migrations share version ${out[i]!.version}: ${out[i - 1]!.name} and ${out[i]!.name}`);
  }
  return out;
}

/** Whether a migration belongs to the foundation or one of `plugins`. */
export function migrationSelected(m: Pick<Migration, 'name'>, plugins: readonly string[] | undefined, includeFoundation = true): boolean {
  if (!plugins) return true;
  if (includeFoundation && m.name.startsWith(`${FOUNDATION}_`)) return true;
  return plugins.some((p) => m.name.startsWith(`${p.replace(/-/g, '_')}_`));
}

export function checksum(sql: string): string {
  // Line endings are normalised so a checkout with CRLF conversion does not look like a tampered file.
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

export async function runMigrations(databaseUrl: string, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const log = opts.log;
  const all = await listMigrations(opts.dir ?? migrationsDir);
  return withLockedClient(databaseUrl, async (client) => {
    const recorded = await appliedMigrations(client);
    const sources = new Map<string, string>();
    for (const m of all) {
      if (!existsSync(m.upPath)) throw new Error(`migration ${folderName(m)} has no up.sql`);
      sources.set(m.version, await readFile(m.upPath, 'utf8'));
    }
    // Every applied migration is checked, selected or not: history must match the files.
    for (const m of all) {
      const row = recorded.get(m.version);
      if (row && row.checksum !== checksum(sources.get(m.version)!)) {
        throw new Error(
          `migration ${folderName(m)} was applied on ${row.applied_at.toISOString()} but its up.sql has changed since; ` +
            'migrations are append-only: restore the file and add a new migration for the change',
        );
      }
    }
    const known = new Set(all.map((m) => m.version));
    for (const [version, row] of recorded) {
      if (!known.has(version)) log?.warn({ version, name: row.name }, 'applied migration not found on disk (written by a newer version?)');
    }
    const pending = all.filter((m) => !recorded.has(m.version) && migrationSelected(m, opts.plugins));
    const applied: string[] = [];
    for (const m of pending) {
      const sql = sources.get(m.version)!;
      const t0 = Date.now();
      await inTransaction(client, async () => {
        await client.query(sql);
        await client.query(`insert into ${TRACKING_TABLE} (version, name, checksum) values ($1, $2, $3)`, [m.version, m.name, checksum(sql)]);
      }).catch((e: unknown) => {
        throw new Error(`migration ${folderName(m)} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      });
      applied.push(folderName(m));
      log?.info({ migration: folderName(m), ms: Date.now() - t0 }, 'migration applied');
    }
    if (!applied.length) log?.info({ known: all.length }, 'migrations: database is up to date');
    return { applied };
  });
}

export async function revertMigrations(databaseUrl: string, opts: RevertOptions = {}): Promise<{ reverted: string[] }> {
  const log = opts.log;
  if (opts.to !== undefined && !/^\d+$/.test(opts.to)) throw new Error(`--to must be a migration version (digits), got ${JSON.stringify(opts.to)}`);
  const all = await listMigrations(opts.dir ?? migrationsDir);
  const byVersion = new Map(all.map((m) => [m.version, m]));
  return withLockedClient(databaseUrl, async (client) => {
    const recorded = await appliedMigrations(client);
    const targets = [...recorded.keys()]
      .filter((v) => opts.to === undefined || compareVersions(v, opts.to) > 0)
      .filter((v) => migrationSelected({ name: recorded.get(v)!.name }, opts.plugins, false))
      .sort((a, b) => compareVersions(b, a));
    const reverted: string[] = [];
    for (const version of targets) {
      const m = byVersion.get(version);
      const label = `${version}_${recorded.get(version)!.name}`;
      if (!m || !existsSync(m.downPath)) throw new Error(`cannot revert migration ${label}: its down.sql is not on disk`);
      const sql = await readFile(m.downPath, 'utf8');
      await inTransaction(client, async () => {
        await client.query(sql);
        await client.query(`delete from ${TRACKING_TABLE} where version = $1`, [version]);
      }).catch((e: unknown) => {
        throw new Error(`reverting migration ${label} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      });
      reverted.push(label);
      log?.info({ migration: label }, 'migration reverted');
    }
    return { reverted };
  });
}

/* ------------------------------------------------------------------ internals */

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  applied_at: Date;
}

async function withLockedClient<T>(databaseUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'nself-plugins migrate' });
  // A connection dropped mid-run surfaces through the failing query; without a listener it would crash.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1, $2)', [...LOCK_KEYS]);
    try {
      await ensureTrackingTable(client);
      return await fn(client);
    } finally {
      await client.query('select pg_advisory_unlock($1, $2)', [...LOCK_KEYS]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureTrackingTable(client: pg.Client): Promise<void> {
  await client.query(`
    create schema if not exists ${TRACKING_SCHEMA};
    create table if not exists ${TRACKING_TABLE} (
      version    bigint      primary key,
      name       text        not null,
      checksum   text        not null,
      applied_at timestamptz not null default now()
    );
    comment on table ${TRACKING_TABLE} is 'Migrations applied by nself-plugins (append-only; checksum = sha256 of up.sql).';
  `);
}

async function appliedMigrations(client: pg.Client): Promise<Map<string, AppliedRow>> {
  const { rows } = await client.query<AppliedRow>(`select version::text as version, name, checksum, applied_at from ${TRACKING_TABLE}`);
  return new Map(rows.map((r) => [r.version, r]));
}

async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query('begin');
  try {
    await fn();
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  }
}

function compareVersions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function folderName(m: Migration): string {
  return `${m.version}_${m.name}`;
}
