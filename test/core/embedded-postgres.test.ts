import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/core/paths.js';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/core/embedded-postgres.js';

const supportDir = join(dirname(fileURLToPath(import.meta.url)), 'support');

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

interface ServerState {
  ownerPid: number;
  postmasterPid: number;
  port: number;
  users: Array<{ pid: number; started?: string; token: string }>;
}

/** The state as a SIGKILL of every user would leave it: the server runs, nobody who used it does. */
function asCrashed(state: ServerState): ServerState {
  return { ...state, ownerPid: deadPid(), users: state.users.map((u) => ({ ...u, pid: deadPid() })) };
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
    const lock = JSON.parse(await readFile(join(dataDir, 'postgres.lock.json'), 'utf8')) as ServerState;
    expect(lock.ownerPid).toBe(process.pid);
    expect(lock.users).toEqual([{ pid: process.pid, started: expect.any(String), token: expect.any(String) }]);
    expect(alive(lock.postmasterPid)).toBe(true);
    // As if the owning process had been killed with SIGKILL: its PID is gone, the server is not.
    await writeFile(join(dataDir, 'postgres.lock.json'), JSON.stringify(asCrashed(lock)));
    const fresh = await startEmbeddedPostgres({ dataDir });
    running.push(fresh);
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(await sql<{ id: number }>(fresh.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await fresh.stop();
    await orphan.stop();
  });

  it('shares the server with a second start in the same data folder; the last stop stops it', async () => {
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    const second = await startEmbeddedPostgres({ dataDir });
    running.push(second);
    expect(second.url).toBe(first.url);
    expect(second.dir).toBe(first.dir);
    const lock = JSON.parse(await readFile(join(dataDir, 'postgres.lock.json'), 'utf8')) as ServerState;
    expect(lock.users).toHaveLength(2);
    await first.stop();
    expect(alive(lock.postmasterPid)).toBe(true);
    expect(await sql<{ id: number }>(second.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await second.stop();
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(existsSync(join(dataDir, 'postgres.lock.json'))).toBe(false);
  });

  it('a server whose users are all gone is an orphan even when some of them left their entry behind', async () => {
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    const lockPath = join(dataDir, 'postgres.lock.json');
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as ServerState;
    // Another live node process uses the server too; a second, older entry is a process that died.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(lockPath, JSON.stringify({ ...lock, users: [...lock.users, { pid: other.pid, token: 'other' }, { pid: deadPid(), token: 'dead' }] }));
      await first.stop();
      // Left running for the live user; the dead entry is dropped.
      expect(alive(lock.postmasterPid)).toBe(true);
      expect((JSON.parse(await readFile(lockPath, 'utf8')) as ServerState).users.map((u) => u.token)).toEqual(['other']);
    } finally {
      other.kill();
      await once(other, 'exit');
    }
    // Now nobody uses it: the next start stops it and starts its own.
    const next = await startEmbeddedPostgres({ dataDir });
    running.push(next);
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(await sql<{ id: number }>(next.url, 'select id from kept')).toEqual([{ id: 42 }]);
    await next.stop();
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
      const owner = JSON.parse(await readFile(join(dirname(cluster), 'owner.json'), 'utf8')) as { dataDir: string; id: string };
      expect(owner).toEqual({ dataDir, id: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(readFileSync(join(dataDir, 'postgres.location'), 'utf8')).toContain(`\n# cluster id: ${owner.id}\n`);
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
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as ServerState;
    expect(alive(lock.postmasterPid)).toBe(true);
    await writeFile(lockPath, JSON.stringify(asCrashed(lock)));

    const fresh = await startEmbeddedPostgres({ dataDir });
    running.push(fresh);
    expect(alive(lock.postmasterPid)).toBe(false);
    expect(clusterOf(dataDir)).toBe(cluster);
    expect(await sql<{ id: number }>(fresh.url, 'select id from kept')).toEqual([{ id: 7 }]);

    // While it runs, a second starter on the same data folder shares it rather than taking the cluster over.
    const second = await startEmbeddedPostgres({ dataDir });
    running.push(second);
    expect([second.url, second.dir]).toEqual([fresh.url, cluster]);
    await fresh.stop();
    expect(await sql<{ id: number }>(second.url, 'select id from kept')).toEqual([{ id: 7 }]);
    await second.stop();
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

/** A process running `support/embedded-pg-child.ts`: its answer lines, and a way to ask it to stop. */
interface ChildStart {
  first: Promise<{ url?: string; dir?: string; error?: string }>;
  stop(): Promise<{ stopped?: boolean }>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function startChild(dataDir: string, barrier: string): ChildStart {
  const child = spawn(process.execPath, ['--import', 'tsx', join(supportDir, 'embedded-pg-child.ts')], {
    cwd: packageRoot,
    env: { ...process.env, NODE_OPTIONS: '', DATA_DIR: dataDir, BARRIER: barrier },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const lines = createInterface({ input: child.stdout! });
  // The next line it answers, or a failure once it has exited without one (never a hang).
  const next = () =>
    new Promise<Record<string, unknown>>((done, fail) => {
      lines.once('line', (l) => done(JSON.parse(l) as Record<string, unknown>));
      void exited.then((code) => fail(new Error(`child exited (${code}) without answering`)));
    });
  return {
    first: next() as ChildStart['first'],
    stop: async () => {
      const answer = next();
      child.stdin!.write('stop\n');
      return (await answer) as { stopped?: boolean };
    },
    exited,
  };
}

/** Children a failed test left running: asked to stop (which stops their server), killed if they do not. */
async function reapChildren(): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = once(c, 'exit');
    c.stdin?.write('stop\n');
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(timer);
  }
}

describe('embedded PostgreSQL: first starts and fresh data folders', () => {
  const asRoot = process.getuid?.() === 0;
  let scratch: string;
  const running: EmbeddedPostgres[] = [];
  const relocatedHomes = new Set<string>();
  const dataDirs: string[] = [];
  /** A data folder of this block; its cluster is removed at the end wherever it was kept. */
  const use = (dataDir: string) => (dataDirs.push(dataDir), dataDir);

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'nself-embedded-first-'));
  });
  afterAll(async () => {
    await reapChildren();
    for (const r of running) await r.stop();
    for (const d of dataDirs) track(d);
    for (const h of relocatedHomes) await rm(h, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  });
  const track = (dataDir: string) => {
    const cluster = clusterOf(dataDir);
    if (cluster.startsWith('/var/lib/nself-plugins/')) relocatedHomes.add(dirname(cluster));
    return cluster;
  };

  it('two processes starting one new data folder at the same moment both succeed, on one cluster and one server', async () => {
    const dataDir = use(join(scratch, 'together', '.data'));
    const barrier = join(scratch, 'go-together');
    const a = startChild(dataDir, barrier);
    const b = startChild(dataDir, barrier);
    // Both load first, then start within milliseconds of each other.
    await new Promise((r) => setTimeout(r, 2500));
    await writeFile(barrier, '');
    const [ra, rb] = await Promise.all([a.first, b.first]);
    expect([ra.error, rb.error]).toEqual([undefined, undefined]);
    expect(rb.dir).toBe(ra.dir);
    expect(rb.url).toBe(ra.url);
    const cluster = track(dataDir);
    expect(ra.dir).toBe(cluster);
    expect(await sql<{ n: number }>(ra.url!, 'select 1 as n')).toEqual([{ n: 1 }]);
    // One initdb ran, and left nothing beside the cluster.
    expect((await readdir(dirname(cluster))).filter((e) => e.includes('initdb'))).toEqual([]);

    // The first to stop leaves the server to the other; the last stops it.
    expect(await a.stop()).toEqual({ stopped: true });
    expect(await a.exited).toBe(0);
    expect(await sql<{ n: number }>(rb.url!, 'select 2 as n')).toEqual([{ n: 2 }]);
    expect(await b.stop()).toEqual({ stopped: true });
    expect(await b.exited).toBe(0);
    await expect(sql(rb.url!, 'select 1')).rejects.toThrow();
    expect(existsSync(join(dataDir, 'postgres.lock.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'postgres.start.lock'))).toBe(false);
  }, 180_000);

  it('in one process too: concurrent first starts share one new cluster', async () => {
    const dataDir = use(join(scratch, 'inproc', '.data'));
    const [a, b] = await Promise.all([startEmbeddedPostgres({ dataDir }), startEmbeddedPostgres({ dataDir })]);
    running.push(a, b);
    track(dataDir);
    expect([b.url, b.dir]).toEqual([a.url, a.dir]);
    await sql(a.url, 'create table t (id int)');
    await a.stop();
    await b.stop();
  }, 120_000);

  it('a data folder deleted and made again at the same path starts a fresh cluster', async () => {
    // Below a folder closed to other users: as root, the cluster is kept outside the project.
    const closed = join(scratch, 'closed');
    await mkdir(closed, { mode: 0o700 });
    const dataDir = use(join(closed, 'app', '.data'));
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    const cluster = track(dataDir);
    await sql(first.url, 'create table old_data (id int); insert into old_data values (1)');
    await first.stop();

    for (let round = 1; round <= 2; round++) {
      // `rm -rf .data`, or a fresh clone into the same path; the cluster outside the project remains.
      await rm(dataDir, { recursive: true, force: true });
      const again = await startEmbeddedPostgres({ dataDir });
      running.push(again);
      expect(again.dir).toBe(cluster);
      expect(await sql<{ t: string | null }>(again.url, "select to_regclass('old_data')::text as t")).toEqual([{ t: null }]);
      await sql(again.url, 'create table old_data (id int)'); // the next round must not find it either
      await again.stop();
      if (asRoot) {
        // The earlier cluster is set aside, not deleted: only the newest such copy is kept.
        const aside = (await readdir(dirname(cluster))).filter((e) => e.startsWith('postgres.abandoned-'));
        expect(aside).toHaveLength(1);
        expect(existsSync(join(dirname(cluster), aside[0]!, 'PG_VERSION'))).toBe(true);
      }
    }
  }, 180_000);

  it('a location file copied from another data folder is not followed: the copy gets its own cluster', async () => {
    const closed = join(scratch, 'closed-copy');
    await mkdir(closed, { mode: 0o700 });
    const original = use(join(closed, 'app', '.data'));
    const a = await startEmbeddedPostgres({ dataDir: original });
    running.push(a);
    const clusterA = track(original);
    await sql(a.url, 'create table mine (id int); insert into mine values (5)');
    await a.stop();

    // `cp -r app app2`: the copy brings app's postgres.location and password along.
    const copy = use(join(closed, 'app2', '.data'));
    await cp(original, copy, { recursive: true });
    const b = await startEmbeddedPostgres({ dataDir: copy });
    running.push(b);
    const clusterB = track(copy);
    if (asRoot) expect(clusterB).not.toBe(clusterA);
    expect(b.dir).toBe(clusterB);
    expect(await sql<{ t: string | null }>(b.url, "select to_regclass('mine')::text as t")).toEqual([asRoot ? { t: null } : { t: 'mine' }]);
    await b.stop();

    // The original keeps its cluster and data.
    const again = await startEmbeddedPostgres({ dataDir: original });
    running.push(again);
    expect(again.dir).toBe(clusterA);
    expect(await sql<{ id: number }>(again.url, 'select id from mine')).toEqual([{ id: 5 }]);
    await again.stop();
  }, 180_000);

  it('a cluster kept by an earlier version (path only, no id) is still recognised, and given an id', async () => {
    const closed = join(scratch, 'closed-legacy');
    await mkdir(closed, { mode: 0o700 });
    const dataDir = use(join(closed, 'app', '.data'));
    const first = await startEmbeddedPostgres({ dataDir });
    running.push(first);
    const cluster = track(dataDir);
    await sql(first.url, 'create table kept (id int); insert into kept values (9)');
    await first.stop();
    if (asRoot) {
      // What an earlier version left: data-dir.txt beside the cluster, a location file without an id.
      await rm(join(dirname(cluster), 'owner.json'));
      await writeFile(join(dirname(cluster), 'data-dir.txt'), dataDir + '\n');
      await writeFile(join(dataDir, 'postgres.location'), `${cluster}\n# kept by an earlier version\n`);
    }
    const again = await startEmbeddedPostgres({ dataDir });
    running.push(again);
    expect(again.dir).toBe(cluster);
    expect(await sql<{ id: number }>(again.url, 'select id from kept')).toEqual([{ id: 9 }]);
    await again.stop();
    if (asRoot) {
      const owner = JSON.parse(await readFile(join(dirname(cluster), 'owner.json'), 'utf8')) as { id: string };
      expect(readFileSync(join(dataDir, 'postgres.location'), 'utf8')).toContain(`# cluster id: ${owner.id}`);
      expect(existsSync(join(dirname(cluster), 'data-dir.txt'))).toBe(false);
    }
  }, 120_000);
});
