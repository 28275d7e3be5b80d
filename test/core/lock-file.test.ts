import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lock, lockSync, LockedError, processStartTime, readLockHolder, tryLock, withLockSync, type LockHolder } from '../../src/core/lock-file.js';

const support = join(dirname(fileURLToPath(import.meta.url)), 'support');

function runTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(support, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', fail);
    c.once('close', (code) => done({ code, out, err }));
  });
}

/** A PID that certainly belongs to no running process. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());
}

function holder(over: Partial<LockHolder>): LockHolder {
  return { pid: process.pid, host: hostname(), since: new Date().toISOString(), what: 'test', token: 'feedface', ...over };
}

describe('lock files', () => {
  let dir: string;
  let n = 0;
  const path = () => join(dir, `l${++n}.lock`);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nself-lock-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives mutual exclusion across processes, also when they start by breaking the same stale lock', async () => {
    const p = path();
    const counter = join(dir, 'counter');
    const barrier = join(dir, 'go');
    writeFileSync(counter, '0');
    // Every process finds this stale lock first: only one may take its place.
    writeFileSync(p, JSON.stringify(holder({ pid: deadPid() })));
    const env = { LOCK: p, COUNTER: counter, BARRIER: barrier, ROUNDS: '25' };
    const children = [runTs('lock-counter.ts', [], env), runTs('lock-counter.ts', [], env), runTs('lock-counter.ts', [], env)];
    // Let them load before opening the barrier, so they really contend.
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(barrier, '');
    const results = await Promise.all(children);
    expect(results.map((r) => [r.code, r.err.replace(/.*ExperimentalWarning.*\n?|.*--trace-warnings.*\n?/g, '')])).toEqual([
      [0, ''],
      [0, ''],
      [0, ''],
    ]);
    expect(readFileSync(counter, 'utf8')).toBe('75');
    expect(existsSync(p)).toBe(false);
    expect(existsSync(p + '.break')).toBe(false);
  }, 120_000);

  it('records who holds it, and release deletes only its own lock', () => {
    const p = path();
    const held = lockSync(p, { what: 'install notes' });
    expect(readLockHolder(p)).toEqual({
      pid: process.pid,
      host: hostname(),
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      what: 'install notes',
      started: processStartTime(process.pid),
      token: held.holder.token,
    });
    // Someone deleted it by hand and another process took it: releasing must not delete theirs.
    writeFileSync(p, JSON.stringify(holder({ token: 'theirs' })));
    held.release();
    expect(readLockHolder(p)?.token).toBe('theirs');
    rmSync(p);
  });

  it('waits for a live holder, then says who holds it', async () => {
    const p = path();
    const first = lockSync(p, { what: 'install notes' });
    const t0 = Date.now();
    expect(() => lockSync(p, { what: 'install audit', waitMs: 300 })).toThrow(LockedError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    await expect(lock(p, { what: 'install audit', waitMs: 100 })).rejects.toThrow(
      new RegExp(`^cannot install audit: ${p} is held by process ${process.pid} on ${hostname()} \\(install notes, since .*\\); wait for it to finish, or delete the file if that process is no longer running$`),
    );
    // Released while a second one waits: the waiter gets it.
    setTimeout(() => first.release(), 200);
    const second = await lock(p, { what: 'install audit', waitMs: 5000 });
    expect(readLockHolder(p)?.what).toBe('install audit');
    second.release();
    expect(existsSync(p)).toBe(false);
  });

  it('takes over a lock whose holder is gone: dead pid, reused pid, or an unreadable file left long ago', () => {
    const dead = path();
    writeFileSync(dead, JSON.stringify(holder({ pid: deadPid() })));
    withLockSync(dead, { what: 'x', waitMs: 0 }, () => expect(readLockHolder(dead)?.pid).toBe(process.pid));

    // The pid is alive, but it is not the process that took the lock (it started at another time).
    const reused = path();
    writeFileSync(reused, JSON.stringify(holder({ started: '1' })));
    withLockSync(reused, { what: 'x', waitMs: 0 }, () => expect(readLockHolder(reused)?.what).toBe('x'));

    const unreadable = path();
    writeFileSync(unreadable, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(unreadable, old, old);
    withLockSync(unreadable, { what: 'x', waitMs: 0 }, () => expect(readLockHolder(unreadable)?.what).toBe('x'));
    expect([existsSync(dead), existsSync(reused), existsSync(unreadable)]).toEqual([false, false, false]);
  });

  it('does not take over a lock that may be live: just being written, or held on another host', () => {
    const fresh = path();
    writeFileSync(fresh, '');
    expect(() => lockSync(fresh, { what: 'x', waitMs: 100 })).toThrow(/held by another process \(its lock file is being written or cannot be read\)/);
    const remote = path();
    writeFileSync(remote, JSON.stringify(holder({ host: 'elsewhere.example', pid: deadPid() })));
    const r = tryLock(remote, 'x');
    expect('busy' in r && r.busy.holder?.host).toBe('elsewhere.example');
    expect(() => lockSync(remote, { what: 'x', waitMs: 0 })).toThrow(/held by process \d+ on elsewhere\.example/);
  });

  it('is released when its process exits without releasing it', async () => {
    const p = path();
    const r = await runTs('lock-and-exit.ts', [p]);
    expect([r.code, r.out]).toEqual([0, 'held\n']);
    expect(existsSync(p)).toBe(false);
  }, 60_000);
});
