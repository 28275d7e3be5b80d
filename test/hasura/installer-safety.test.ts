/**
 * The installer on a project it cannot trust, or shares: secrets in files only the owner reads, bounded
 * reads that stay inside the project, one command at a time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { install, remove } from '../../src/hasura/installer.js';
import { MAX_PROJECT_FILE_BYTES } from '../../src/hasura/files.js';
import { PROJECT_LOCK_FILE } from '../../src/hasura/project-lock.js';
import { LockedError } from '../../src/core/lock-file.js';
import { catalog } from '../fixtures/plugins/catalog.js';
import { cli, copyFixture, diffTrees, hashTree, type TempProject } from './helpers.js';

const temps: TempProject[] = [];
const fixture = (name: 'empty' | 'chat') => {
  const t = copyFixture(name);
  temps.push(t);
  return t;
};
let umask: number;
beforeAll(() => {
  umask = process.umask(0o022);
});
afterAll(() => {
  process.umask(umask);
  for (const t of temps) t.cleanup();
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe('.env holds secrets', () => {
  test('a new .env is written 0600; .env.example stays readable', () => {
    const t = fixture('chat');
    const r = install({ projectDir: t.dir, catalog, plugins: ['notes'], settings: { NOTES_API_KEY: 'k-123456789' } });
    expect(readFileSync(join(t.root, '.env'), 'utf8')).toMatch(/^NSELF_PLUGINS_WEBHOOK_SECRET=[0-9a-f]{48}$/m);
    expect(mode(join(t.root, '.env'))).toBe(0o600);
    expect(mode(join(t.root, '.env.example'))).toBe(0o644);
    expect(r.notes).toEqual([]);
  });

  test('an existing .env keeps its mode through install and remove, and a readable one is pointed out', async () => {
    const t = fixture('chat');
    writeFileSync(join(t.root, '.env'), 'APP_KEY=1\n');
    chmodSync(join(t.root, '.env'), 0o640);
    const r = install({ projectDir: t.dir, catalog, plugins: ['notes'] });
    expect(mode(join(t.root, '.env'))).toBe(0o640);
    expect(r.notes).toEqual([
      '../.env is readable by other users (mode 0640) and now holds NSELF_PLUGINS_WEBHOOK_SECRET; consider: chmod 600 ../.env',
      '../.env is readable by other users (mode 0640) and now holds NOTES_API_KEY; consider: chmod 600 ../.env',
    ]);
    await remove({ projectDir: t.dir, catalog, plugins: ['notes'] });
    expect(readFileSync(join(t.root, '.env'), 'utf8')).toBe('APP_KEY=1\n');
    expect(mode(join(t.root, '.env'))).toBe(0o640);

    const u = fixture('chat');
    writeFileSync(join(u.root, '.env'), 'APP_KEY=1\n', { mode: 0o600 });
    expect(install({ projectDir: u.dir, catalog, plugins: ['audit'] }).notes).toEqual([]);
    expect(mode(join(u.root, '.env'))).toBe(0o600);
  });
});

describe('reading the project is bounded', () => {
  test('an oversized actions.graphql stops the install with its name and the limit, changing nothing', async () => {
    const t = fixture('chat');
    truncateSync(join(t.dir, 'metadata/actions.graphql'), MAX_PROJECT_FILE_BYTES + 1);
    const before = hashTree(t.root);
    const r = await cli(['install', 'notes', '--project', t.dir, '--yes']);
    expect([r.code, r.err]).toEqual([1, 'error: metadata/actions.graphql: is 16 MiB, more than the 16 MiB a project file may have; refusing to read it']);
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('an include or a config folder pointing out of the project is refused, changing nothing', () => {
    const t = fixture('chat');
    const outside = mkdtempSync(join(tmpdir(), 'nself-outside-'));
    try {
      writeFileSync(join(outside, 'secret.yaml'), '- table: { name: secret, schema: public }\n');
      const tables = join(t.dir, 'metadata/databases/default/tables/tables.yaml');
      writeFileSync(tables, readFileSync(tables, 'utf8') + `- "!include ../../../../../${outside.split('/').slice(-1)[0]}/secret.yaml"\n`);
      const before = hashTree(t.root);
      expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'] })).toThrow(/tables\.yaml: "!include \.\.\/.*secret\.yaml" points outside the project; refusing to read it/);
      expect(diffTrees(before, hashTree(t.root))).toEqual([]);

      const u = fixture('empty');
      writeFileSync(join(u.dir, 'config.yaml'), readFileSync(join(u.dir, 'config.yaml'), 'utf8') + `migrations_directory: ${outside}\n`);
      expect(() => install({ projectDir: u.dir, catalog, plugins: ['audit'] })).toThrow(`config.yaml: migrations_directory ${outside} is outside the project; keep it inside the project folder`);
      expect(existsSync(join(outside, 'default'))).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('a metadata file linked to a file outside the project is neither read nor overwritten', () => {
    const t = fixture('chat');
    const outside = mkdtempSync(join(tmpdir(), 'nself-outside-'));
    try {
      writeFileSync(join(outside, 'shadow'), 'root:secret\n');
      rmSync(join(t.dir, 'metadata/cron_triggers.yaml'));
      symlinkSync(join(outside, 'shadow'), join(t.dir, 'metadata/cron_triggers.yaml'));
      expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'] })).toThrow(/metadata\/cron_triggers\.yaml: leads through a symbolic link to .*shadow, outside the project/);
      expect(readFileSync(join(outside, 'shadow'), 'utf8')).toBe('root:secret\n');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('one install or remove at a time', () => {
  let sleeper: ChildProcess | undefined;
  afterEach(() => {
    sleeper?.kill();
    sleeper = undefined;
  });

  const lockOf = (t: TempProject) => join(t.dir, PROJECT_LOCK_FILE);
  const holder = (pid: number, over: object = {}) =>
    JSON.stringify({ pid, host: hostname(), since: '2030-01-01T00:00:00.000Z', what: 'install jobs', token: 'abc', ...over });

  test('a project held by a live command: the install waits, then gives up naming the holder, changing nothing', async () => {
    const t = fixture('chat');
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    writeFileSync(lockOf(t), holder(sleeper.pid!));
    const before = hashTree(t.root);
    const t0 = Date.now();
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'], lockWaitMs: 400 })).toThrow(LockedError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    await expect(remove({ projectDir: t.dir, catalog, plugins: ['notes'], lockWaitMs: 100 })).rejects.toThrow(
      `cannot remove notes: ${lockOf(t)} is held by process ${sleeper.pid} on ${hostname()} (install jobs, since 2030-01-01T00:00:00.000Z); wait for it to finish, or delete the file if that process is no longer running`,
    );
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });

  test('a lock left by a command that died is taken over', () => {
    const t = fixture('chat');
    const dead = Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());
    writeFileSync(lockOf(t), holder(dead));
    const r = install({ projectDir: t.dir, catalog, plugins: ['audit'], lockWaitMs: 0 });
    expect(r.changes.map((c) => c.status)).toEqual(['added']);
    expect(existsSync(lockOf(t))).toBe(false);
  });

  test('a dry run waits for the lock too (it must not read a project half-way through a commit), and leaves none', () => {
    const t = fixture('empty');
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    writeFileSync(lockOf(t), holder(sleeper.pid!));
    expect(() => install({ projectDir: t.dir, catalog, plugins: ['notes'], dryRun: true, lockWaitMs: 100 })).toThrow(LockedError);
    rmSync(lockOf(t));
    const before = hashTree(t.root);
    expect(install({ projectDir: t.dir, catalog, plugins: ['notes'], dryRun: true }).files.length).toBeGreaterThan(0);
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  });
});
