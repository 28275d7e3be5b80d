import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/core/embedded-postgres.js';

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // An exited child not yet reaped still answers signal 0.
  return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** A PID that certainly belongs to no running process. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

describe('embedded PostgreSQL', () => {
  let dataDir: string;
  const running: EmbeddedPostgres[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'nself-embedded-'));
  });
  afterAll(async () => {
    for (const r of running) await r.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('initialises a cluster, serves the nself database on 127.0.0.1 and stops cleanly', async () => {
    const pgSrv = await startEmbeddedPostgres({ dataDir });
    const url = new URL(pgSrv.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.pathname).toBe('/nself');
    expect(url.password).not.toBe('');
    const [info] = await sql<{ db: string; listen: string; v: number }>(
      pgSrv.url,
      "select current_database() as db, current_setting('listen_addresses') as listen, current_setting('server_version_num')::int as v",
    );
    expect(info).toEqual({ db: 'nself', listen: '127.0.0.1', v: expect.any(Number) });
    expect(info!.v).toBeGreaterThanOrEqual(180000);
    await sql(pgSrv.url, 'create table kept (id int); insert into kept values (42)');
    expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(pgSrv.dir).toBe(join(dataDir, 'postgres'));
    // The generated password is stored for the next start, readable by the owner only.
    expect((await stat(join(dataDir, 'postgres.json'))).mode & 0o077).toBe(0);

    await pgSrv.stop();
    await pgSrv.stop(); // idempotent
    await expect(sql(pgSrv.url, 'select 1')).rejects.toThrow();
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  });

  it('reuses the existing cluster on restart and keeps the data', async () => {
    const again = await startEmbeddedPostgres({ dataDir });
    running.push(again);
    expect(await sql<{ id: number }>(again.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await again.stop();
  });

  it('refuses a wrong password: the server does not trust local connections', async () => {
    const srv = await startEmbeddedPostgres({ dataDir });
    running.push(srv);
    const u = new URL(srv.url);
    u.password = 'wrong';
    await expect(sql(u.toString(), 'select 1')).rejects.toThrow(/password authentication failed/);
    await srv.stop();
  });

  it('starts after a crash left a postmaster.pid naming a live, unrelated process', async () => {
    // PostgreSQL itself would refuse: it takes any live PID in the lock file for a running server.
    await writeFile(join(dataDir, 'postgres', 'postmaster.pid'), `${process.pid}\n${join(dataDir, 'postgres')}\n`);
    const srv = await startEmbeddedPostgres({ dataDir });
    running.push(srv);
    expect(await sql<{ id: number }>(srv.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await srv.stop();
  });

  it('shuts down a server orphaned by a crashed owner, then starts its own', async () => {
    const orphan = await startEmbeddedPostgres({ dataDir });
    running.push(orphan);
    const lock = JSON.parse(await readFile(join(dataDir, 'postgres.lock.json'), 'utf8')) as { ownerPid: number; postmasterPid: number };
    expect(lock.ownerPid).toBe(process.pid);
    expect(alive(lock.postmasterPid)).toBe(true);
    // As if the owning process had been killed with SIGKILL: its PID is gone, the server is not.
    await writeFile(join(dataDir, 'postgres.lock.json'), JSON.stringify({ ...lock, ownerPid: deadPid() }));
    const fresh = await startEmbeddedPostgres({ dataDir });
    running.push(fresh);
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(await sql<{ id: number }>(fresh.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await fresh.stop();
    await orphan.stop();
  });

  it('refuses a data folder whose server belongs to another live process', async () => {
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    const lockPath = join(dataDir, 'postgres.lock.json');
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as { ownerPid: number };
    // Another live node process claims the server.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(lockPath, JSON.stringify({ ...lock, ownerPid: other.pid }));
      await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/already served by process/);
    } finally {
      other.kill();
      await writeFile(lockPath, JSON.stringify(lock));
    }
    expect(await sql<{ id: number }>(first.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await first.stop();
  });

  it('picks another port when one is taken, and fails clearly on a taken fixed port', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'nself-embedded-b-'));
    try {
      const a = await startEmbeddedPostgres({ dataDir });
      running.push(a);
      const b = await startEmbeddedPostgres({ dataDir: otherDir });
      running.push(b);
      expect(portOf(b.url)).not.toBe(portOf(a.url));
      await b.stop();
      await expect(startEmbeddedPostgres({ dataDir: otherDir, port: portOf(a.url) })).rejects.toThrow(/port \d+ on 127.0.0.1 is already in use/);
      await a.stop();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

/** Where the cluster of `dataDir` is: the path its location file names, else `<dataDir>/postgres`. */
function clusterOf(dataDir: string): string {
  const pointer = join(dataDir, 'postgres.location');
  return existsSync(pointer) ? readFileSync(pointer, 'utf8').split('\n')[0]! : join(dataDir, 'postgres');
}

describe('embedded PostgreSQL with the data folder below a folder closed to other users', () => {
  const asRoot = process.getuid?.() === 0;
  let closed: string;
  let dataDir: string;
  const running: EmbeddedPostgres[] = [];

  beforeAll(async () => {
    // As a project cloned into `mktemp -d` or under /root: the server's user cannot traverse `closed`.
    closed = await mkdtemp(join(tmpdir(), 'nself-embedded-closed-'));
    dataDir = join(closed, 'app', '.data');
  });
  afterAll(async () => {
    for (const r of running) await r.stop();
    const cluster = clusterOf(dataDir);
    if (!cluster.startsWith(closed)) await rm(dirname(cluster), { recursive: true, force: true });
    await rm(closed, { recursive: true, force: true });
  });

  it('keeps the cluster where the server can reach it, says where, and keeps the data across restarts', async () => {
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    await sql(first.url, 'create table kept (id int); insert into kept values (7)');
    await first.stop();

    const cluster = clusterOf(dataDir);
    expect(first.dir).toBe(cluster);
    expect(existsSync(join(cluster, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(cluster, 'postmaster.pid'))).toBe(false);
    // The user's folder keeps its mode: nothing was opened up for the server.
    expect((await stat(closed)).mode & 0o777).toBe(0o700);
    if (asRoot) {
      expect(cluster).toMatch(/^\/var\/lib\/nself-plugins\/embedded-postgres\/clusters\/[0-9a-f]{16}\/postgres$/);
      expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
      expect((await readFile(join(dirname(cluster), 'data-dir.txt'), 'utf8')).trim()).toBe(dataDir);
      const postgresUid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
      expect((await stat(cluster)).uid).toBe(postgresUid);
    } else {
      expect(cluster).toBe(join(dataDir, 'postgres'));
    }

    const again = await startEmbeddedPostgres({ dataDir });
    running.push(again);
    expect(clusterOf(dataDir)).toBe(cluster);
    expect(await sql<{ id: number }>(again.url, 'select id from kept')).toEqual([{ id: 7 }]);
    await again.stop();
  });

  it('recovers the kept cluster after a crash left a stale postmaster.pid and after an orphaned server', async () => {
    const cluster = clusterOf(dataDir);
    await writeFile(join(cluster, 'postmaster.pid'), `${process.pid}\n${cluster}\n`);
    const orphan = await startEmbeddedPostgres({ dataDir });
    running.push(orphan);
    const lockPath = join(dataDir, 'postgres.lock.json');
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as { ownerPid: number; postmasterPid: number };
    expect(alive(lock.postmasterPid)).toBe(true);
    await writeFile(lockPath, JSON.stringify({ ...lock, ownerPid: deadPid() }));

    const fresh = await startEmbeddedPostgres({ dataDir });
    running.push(fresh);
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(clusterOf(dataDir)).toBe(cluster);
    expect(await sql<{ id: number }>(fresh.url, 'select id from kept')).toEqual([{ id: 7 }]);

    // While it runs, a second starter on the same data folder is refused rather than taking the cluster over.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const own = await readFile(lockPath, 'utf8');
    try {
      await writeFile(lockPath, JSON.stringify({ ...(JSON.parse(own) as object), ownerPid: other.pid }));
      await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/already served by process/);
    } finally {
      other.kill();
      await writeFile(lockPath, own);
    }
    await fresh.stop();
    await orphan.stop();
  });

  it('stays with the kept cluster once the folders above are opened up', async () => {
    const cluster = clusterOf(dataDir);
    await chmod(closed, 0o755);
    const srv = await startEmbeddedPostgres({ dataDir });
    running.push(srv);
    expect(srv.dir).toBe(cluster);
    expect(await sql<{ id: number }>(srv.url, 'select id from kept')).toEqual([{ id: 7 }]);
    await srv.stop();
  });
});
