/**
 * Cross-process mutual exclusion through a lock file created with O_EXCL, holding who holds it (pid, host,
 * start time of the process, what it is doing). Used where several processes may change the same files at
 * once: `nself-plugins install/remove` on one Hasura project, first starts of embedded PostgreSQL in one
 * data folder.
 *
 * A lock whose holder is gone is broken, but only under a second, short-lived "breaker" lock that is taken
 * with O_EXCL too: two processes that both find the same stale lock must not both delete it, or the second
 * would delete the lock the first has just taken in its place. A holder on another host cannot be checked
 * and is waited for (then reported with its file, for a person to judge).
 */
import { closeSync, constants as fsConstants, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What the holder is doing, for the message a waiting process gives up with. */
  what: string;
  /** Start time of the holding process (Linux clock ticks since boot), to tell a reused pid from the holder. */
  started?: string;
  /** Unique per acquisition: release deletes the file only while it is still this acquisition's. */
  token: string;
}

export interface LockOptions {
  /** What the caller does while holding it (shown to whoever waits): `install notes`, `embedded PostgreSQL start`. */
  what: string;
  /** How long to wait for a live holder before giving up; default 30 s. 0: do not wait. */
  waitMs?: number;
  /** Poll interval while waiting; default 50 ms (with jitter). */
  pollMs?: number;
}

export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Deletes the lock file if it is still this one; idempotent. */
  release(): void;
}

export class LockedError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockHolder | undefined,
    what: string,
  ) {
    const who = holder
      ? `process ${holder.pid} on ${holder.host} (${holder.what}, since ${holder.since})`
      : 'another process (its lock file is being written or cannot be read)';
    super(`cannot ${what}: ${path} is held by ${who}; wait for it to finish, or delete the file if that process is no longer running`);
    this.name = 'LockedError';
  }
}

const DEFAULT_WAIT_MS = 30_000;
const DEFAULT_POLL_MS = 50;
/** A lock file that stays empty or unreadable this long was left by a holder that died while writing it. */
const UNREADABLE_GRACE_MS = 5_000;
const MAX_LOCK_FILE_BYTES = 4096;
const BREAKER_SUFFIX = '.break';

const HOST = hostname();

/** Clock ticks since boot at which `pid` started (field 22 of /proc/<pid>/stat); undefined where unknown. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readSmall(`/proc/${pid}/stat`);
    if (stat === undefined) return undefined;
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (an exited, unreaped child counts as gone). EPERM means it runs as another user. */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readSmall(`/proc/${pid}/stat`);
  return !(stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z');
}

function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(MAX_LOCK_FILE_BYTES);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

interface Seen {
  holder: LockHolder | undefined;
  ino: number;
  mtimeMs: number;
}

function look(path: string): Seen | undefined {
  let ino: number;
  let mtimeMs: number;
  try {
    ({ ino, mtimeMs } = statSync(path));
  } catch {
    return undefined;
  }
  const text = readSmall(path);
  let holder: LockHolder | undefined;
  try {
    const raw = JSON.parse(text ?? '') as Partial<LockHolder>;
    if (typeof raw.pid === 'number' && typeof raw.host === 'string' && typeof raw.token === 'string') holder = raw as LockHolder;
  } catch {
    /* being written, or damaged */
  }
  return { holder, ino, mtimeMs };
}

/** Whether the holder is certainly gone: on this host, and its pid dead or now another process. */
function isStale(seen: Seen, now = Date.now()): boolean {
  const h = seen.holder;
  if (!h) return now - seen.mtimeMs > UNREADABLE_GRACE_MS;
  if (h.host !== HOST) return false;
  if (!processAlive(h.pid)) return true;
  if (h.started !== undefined) {
    const current = processStartTime(h.pid);
    if (current !== undefined && current !== h.started) return true;
  }
  return false;
}

function create(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(holder) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

function removeIfSame(path: string, seen: Seen): void {
  // Compared by inode and token: the file must still be the one judged stale, not a successor.
  const now = look(path);
  if (!now || now.ino !== seen.ino || now.holder?.token !== seen.holder?.token) return;
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Deletes the stale lock `seen` unless someone else is doing the same; the caller retries either way. */
function breakStale(path: string, seen: Seen, what: string): void {
  const breakerPath = path + BREAKER_SUFFIX;
  const breaker = newHolder(`break a stale lock for: ${what}`);
  if (!create(breakerPath, breaker)) {
    // A breaker that died mid-way (only a few statements long) is itself stale.
    const b = look(breakerPath);
    if (b && isStale(b)) removeIfSame(breakerPath, b);
    return;
  }
  try {
    removeIfSame(path, seen);
  } finally {
    const mine = look(breakerPath);
    if (mine?.holder?.token === breaker.token) removeIfSame(breakerPath, mine);
  }
}

function newHolder(what: string): LockHolder {
  const started = processStartTime(process.pid);
  return {
    pid: process.pid,
    host: HOST,
    since: new Date().toISOString(),
    what,
    ...(started !== undefined ? { started } : {}),
    token: randomBytes(8).toString('hex'),
  };
}

function held(path: string, holder: LockHolder): HeldLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const seen = look(path);
    if (seen?.holder?.token === holder.token) removeIfSame(path, seen);
  };
  // A process that exits (process.exit, an uncaught error) without releasing must not leave its lock behind.
  process.on('exit', release);
  return { path, holder, release };
}

/** One attempt: the lock, or what holds it now. A stale holder is cleared first. */
export function tryLock(path: string, what: string): HeldLock | { busy: Seen } {
  for (let attempt = 0; attempt < 5; attempt++) {
    const holder = newHolder(what);
    if (create(path, holder)) return held(path, holder);
    const seen = look(path);
    if (!seen) continue; // released in between
    if (!isStale(seen)) return { busy: seen };
    breakStale(path, seen, what);
  }
  const seen = look(path);
  return { busy: seen ?? { holder: undefined, ino: 0, mtimeMs: Date.now() } };
}

function isHeld(r: HeldLock | { busy: Seen }): r is HeldLock {
  return 'release' in r;
}

function jitter(ms: number): number {
  return Math.round(ms * (0.5 + Math.random()));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Takes the lock, waiting (blocking the thread) up to `waitMs` for a live holder; throws {@link LockedError}. */
export function lockSync(path: string, opts: LockOptions): HeldLock {
  const deadline = Date.now() + (opts.waitMs ?? DEFAULT_WAIT_MS);
  for (;;) {
    const r = tryLock(path, opts.what);
    if (isHeld(r)) return r;
    if (Date.now() >= deadline) throw new LockedError(path, r.busy.holder, opts.what);
    Atomics.wait(sleeper, 0, 0, jitter(opts.pollMs ?? DEFAULT_POLL_MS));
  }
}

/** Takes the lock, waiting (without blocking the event loop) up to `waitMs`; throws {@link LockedError}. */
export async function lock(path: string, opts: LockOptions): Promise<HeldLock> {
  const deadline = Date.now() + (opts.waitMs ?? DEFAULT_WAIT_MS);
  for (;;) {
    const r = tryLock(path, opts.what);
    if (isHeld(r)) return r;
    if (Date.now() >= deadline) throw new LockedError(path, r.busy.holder, opts.what);
    await new Promise((done) => setTimeout(done, jitter(opts.pollMs ?? DEFAULT_POLL_MS)));
  }
}

/** The holder recorded in a lock file, if any (for messages and tests). */
export function readLockHolder(path: string): LockHolder | undefined {
  return look(path)?.holder;
}

/** Runs `fn` holding the lock (synchronous callers). */
export function withLockSync<T>(path: string, opts: LockOptions, fn: () => T): T {
  const l = lockSync(path, opts);
  try {
    return fn();
  } finally {
    l.release();
  }
}

/** Runs `fn` holding the lock. */
export async function withLock<T>(path: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const l = await lock(path, opts);
  try {
    return await fn();
  } finally {
    l.release();
  }
}
