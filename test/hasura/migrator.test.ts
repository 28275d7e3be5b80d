import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrationsDir } from '../../src/core/paths.js';
import { listMigrations, revertMigrations, runMigrations } from '../../src/hasura/migrator.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

const scratch: ScratchDatabase[] = [];
async function freshDb(label: string): Promise<ScratchDatabase> {
  const db = await createScratchDatabase(label);
  scratch.push(db);
  return db;
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/**
 * Every user-visible object of the database (schemas, relations, columns, functions, types, triggers,
 * constraints), minus what extensions own: down.sql must leave exactly what was there before up.sql.
 */
async function snapshot(url: string): Promise<string[]> {
  const rows = await query<{ o: string }>(
    url,
    `with user_ns as (
       select oid, nspname from pg_namespace
        where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg\\_toast%' and nspname not like 'pg\\_temp%'
     ), ext as (select objid from pg_depend where deptype = 'e')
     select 'schema ' || nspname as o from user_ns
     union all
     select 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text from pg_class c join user_ns n on n.oid = c.relnamespace
      where c.oid not in (select objid from ext)
     union all
     select 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || case when a.attnotnull then ' not null' else '' end
       from pg_attribute a join pg_class c on c.oid = a.attrelid join user_ns n on n.oid = c.relnamespace
      where a.attnum > 0 and not a.attisdropped and c.oid not in (select objid from ext)
     union all
     select 'fn ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' from pg_proc p join user_ns n on n.oid = p.pronamespace
      where p.oid not in (select objid from ext)
     union all
     select 'type ' || n.nspname || '.' || t.typname from pg_type t join user_ns n on n.oid = t.typnamespace
      where t.typtype in ('e', 'd', 'c') and t.typrelid = 0 and t.oid not in (select objid from ext)
     union all
     select 'trigger ' || c.relname || '.' || tg.tgname from pg_trigger tg join pg_class c on c.oid = tg.tgrelid join user_ns n on n.oid = c.relnamespace
      where not tg.tgisinternal
     union all
     select 'constraint ' || n.nspname || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid) from pg_constraint co join user_ns n on n.oid = co.connamespace`,
  );
  return rows.map((r) => r.o).sort();
}

/** Runs SQL the way `hasura migrate apply` does: the file as one request, no bookkeeping of ours. */
async function execFile(url: string, path: string): Promise<void> {
  await query(url, await readFile(path, 'utf8'));
}

async function tempMigrations(spec: Record<string, { up: string; down?: string }>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nself-migrations-'));
  for (const [folder, { up, down }] of Object.entries(spec)) {
    await mkdir(join(dir, folder));
    await writeFile(join(dir, folder, 'up.sql'), up);
    if (down !== undefined) await writeFile(join(dir, folder, 'down.sql'), down);
  }
  return dir;
}

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((d) => d.drop()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('the repository migrations', () => {
  let repo: Awaited<ReturnType<typeof listMigrations>>;
  beforeAll(async () => {
    repo = await listMigrations(migrationsDir);
  });

  it('exist, each with an up.sql and a down.sql', async () => {
    expect(repo.length).toBeGreaterThan(0);
    for (const m of repo) {
      await expect(readFile(m.upPath, 'utf8')).resolves.toEqual(expect.any(String));
      await expect(readFile(m.downPath, 'utf8')).resolves.toEqual(expect.any(String));
    }
  });

  it('apply in version order, recorded with checksums, and a second run applies nothing', async () => {
    const db = await freshDb('mig_apply');
    const { applied } = await runMigrations(db.url);
    expect(applied).toEqual(repo.map((m) => `${m.version}_${m.name}`));
    const rows = await query<{ version: string; name: string; checksum: string }>(
      db.url,
      'select version::text as version, name, checksum from nself_plugins.schema_migrations order by version',
    );
    expect(rows.map((r) => r.version)).toEqual(repo.map((m) => m.version));
    for (const r of rows) expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
    await expect(runMigrations(db.url)).resolves.toEqual({ applied: [] });
  });

  it('are applied exactly once when 5 migrators start at the same time', async () => {
    const db = await freshDb('mig_concurrent');
    const results = await Promise.all(Array.from({ length: 5 }, () => runMigrations(db.url)));
    const all = results.flatMap((r) => r.applied);
    expect(all.sort()).toEqual(repo.map((m) => `${m.version}_${m.name}`).sort());
    const [{ n }] = (await query<{ n: string }>(db.url, 'select count(*) as n from nself_plugins.schema_migrations')) as [{ n: string }];
    expect(Number(n)).toBe(repo.length);
  });

  it('go up, down to exactly the starting state, and up again to the same schema', async () => {
    const db = await freshDb('mig_updown');
    const empty = await tempMigrations({});
    tempDirs.push(empty);
    await runMigrations(db.url, { dir: empty }); // only the bookkeeping table
    const before = await snapshot(db.url);

    await runMigrations(db.url);
    const up = await snapshot(db.url);
    expect(up).toContain('rel nself_plugins.event_receipt r');
    expect(before).not.toContain('rel nself_plugins.event_receipt r');

    const { reverted } = await revertMigrations(db.url);
    expect(reverted).toEqual(repo.map((m) => `${m.version}_${m.name}`).reverse());
    expect(await snapshot(db.url)).toEqual(before);

    await runMigrations(db.url);
    expect(await snapshot(db.url)).toEqual(up);
  });

  it('can each be re-run directly after being applied (idempotent up.sql)', async () => {
    const db = await freshDb('mig_rerun');
    await runMigrations(db.url);
    const applied = await snapshot(db.url);
    for (const m of repo) await execFile(db.url, m.upPath);
    for (const m of repo) await execFile(db.url, m.upPath);
    expect(await snapshot(db.url)).toEqual(applied);
  });

  it('survive `hasura migrate apply` style runs (each up.sql twice, no bookkeeping) before and after ours', async () => {
    const db = await freshDb('mig_hasura');
    for (const m of repo) {
      await execFile(db.url, m.upPath);
      await execFile(db.url, m.upPath);
    }
    const byHasura = await snapshot(db.url);
    const { applied } = await runMigrations(db.url);
    expect(applied).toHaveLength(repo.length);
    for (const m of repo) await execFile(db.url, m.upPath);
    const after = await snapshot(db.url);
    // Ours only adds its bookkeeping table on top of what the files created.
    expect(after.filter((o) => !o.includes('schema_migrations'))).toEqual(byHasura);
  });
});

describe('migrator rules', () => {
  it('refuses to go on when an applied migration was edited, and applies nothing then', async () => {
    const db = await freshDb('mig_tamper');
    const dir = await tempMigrations({
      '1000_nself_plugins_a': { up: 'create table if not exists t_a (id int);', down: 'drop table if exists t_a;' },
    });
    tempDirs.push(dir);
    await runMigrations(db.url, { dir });
    await writeFile(join(dir, '1000_nself_plugins_a', 'up.sql'), 'create table if not exists t_a (id bigint);');
    await mkdir(join(dir, '2000_nself_plugins_b'));
    await writeFile(join(dir, '2000_nself_plugins_b', 'up.sql'), 'create table if not exists t_b (id int);');
    await expect(runMigrations(db.url, { dir })).rejects.toThrow(/1000_nself_plugins_a .*changed.*append-only/);
    expect(await query(db.url, "select 1 from pg_tables where tablename = 't_b'")).toHaveLength(0);
  });

  it('treats a line-ending-only change as the same file', async () => {
    const db = await freshDb('mig_crlf');
    const dir = await tempMigrations({ '1000_nself_plugins_a': { up: 'create table if not exists t_a (id int);\nselect 1;\n' } });
    tempDirs.push(dir);
    await runMigrations(db.url, { dir });
    await writeFile(join(dir, '1000_nself_plugins_a', 'up.sql'), 'create table if not exists t_a (id int);\r\nselect 1;\r\n');
    await expect(runMigrations(db.url, { dir })).resolves.toEqual({ applied: [] });
  });

  it('rolls back a failing migration entirely and records nothing for it', async () => {
    const db = await freshDb('mig_fail');
    const dir = await tempMigrations({
      '1000_nself_plugins_a': { up: 'create table if not exists t_a (id int);' },
      '2000_nself_plugins_b': { up: 'create table t_b (id int); select * from no_such_table;' },
      '3000_nself_plugins_c': { up: 'create table t_c (id int);' },
    });
    tempDirs.push(dir);
    await expect(runMigrations(db.url, { dir })).rejects.toThrow(/2000_nself_plugins_b failed: .*no_such_table/);
    const tables = (await query<{ tablename: string }>(db.url, "select tablename from pg_tables where tablename like 't\\_%' order by 1")).map((r) => r.tablename);
    expect(tables).toEqual(['t_a']);
    const versions = (await query<{ v: string }>(db.url, 'select version::text as v from nself_plugins.schema_migrations')).map((r) => r.v);
    expect(versions).toEqual(['1000']);
  });

  it('restricts to the foundation plus the listed plugins, and applies a later-enabled plugin\'s older migrations', async () => {
    const db = await freshDb('mig_plugins');
    const dir = await tempMigrations({
      '1000_nself_plugins_init': { up: 'create schema if not exists f;', down: 'drop schema if exists f;' },
      '2000_alpha_init': { up: 'create schema if not exists alpha;', down: 'drop schema if exists alpha;' },
      '3000_beta_init': { up: 'create schema if not exists beta;', down: 'drop schema if exists beta;' },
      '4000_alpha_more': { up: 'create table if not exists alpha.x (id int);', down: 'drop table if exists alpha.x;' },
    });
    tempDirs.push(dir);
    expect(await runMigrations(db.url, { dir, plugins: ['alpha'] })).toEqual({
      applied: ['1000_nself_plugins_init', '2000_alpha_init', '4000_alpha_more'],
    });
    expect(await runMigrations(db.url, { dir, plugins: ['alpha', 'beta'] })).toEqual({ applied: ['3000_beta_init'] });
    expect(await revertMigrations(db.url, { dir, plugins: ['alpha'] })).toEqual({ reverted: ['4000_alpha_more', '2000_alpha_init'] });
    const schemas = (await query<{ s: string }>(db.url, "select nspname as s from pg_namespace where nspname in ('f', 'alpha', 'beta') order by 1")).map((r) => r.s);
    expect(schemas).toEqual(['beta', 'f']);
    expect(await revertMigrations(db.url, { dir, to: '1000' })).toEqual({ reverted: ['3000_beta_init'] });
  });

  it('rejects badly named folders, duplicate versions, a missing down.sql and a bad --to', async () => {
    const db = await freshDb('mig_bad');
    const badName = await tempMigrations({ 'create_things': { up: 'select 1;' } });
    const dup = await tempMigrations({ '1000_a_x': { up: 'select 1;' }, '1000_b_y': { up: 'select 1;' } });
    const noDown = await tempMigrations({ '1000_nself_plugins_x': { up: 'select 1;' } });
    tempDirs.push(badName, dup, noDown);
    await expect(runMigrations(db.url, { dir: badName })).rejects.toThrow(/create_things .*<version>_<name>/);
    await expect(runMigrations(db.url, { dir: dup })).rejects.toThrow(/share version 1000/);
    await runMigrations(db.url, { dir: noDown });
    await expect(revertMigrations(db.url, { dir: noDown })).rejects.toThrow(/1000_nself_plugins_x: its down.sql is not on disk/);
    await expect(revertMigrations(db.url, { dir: noDown, to: '1; drop table x' })).rejects.toThrow(/--to must be a migration version/);
  });
});
