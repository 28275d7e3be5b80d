import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSet, MAX_PROJECT_FILE_BYTES, ProjectFileError } from '../../src/hasura/files.js';
import { diffTrees, hashTree } from './helpers.js';

class FailingFileSet extends FileSet {
  renames = 0;
  constructor(root: string, private readonly failAt: number) {
    super(root);
  }
  protected override rename(from: string, to: string): void {
    if (++this.renames === this.failAt) throw new Error('disk full (injected)');
    super.rename(from, to);
  }
}

describe('FileSet.commit', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nself-files-'));
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a/one.yaml'), 'one\n');
    writeFileSync(join(root, 'a/two.yaml'), 'two\n');
    writeFileSync(join(root, 'gone.yaml'), 'gone\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const stage = (f: FileSet) => {
    f.write('a/one.yaml', 'ONE\n');
    f.write('a/new/three.yaml', 'three\n');
    f.write('a/two.yaml', 'TWO\n');
    f.remove('gone.yaml');
  };

  test('writes, creates and deletes all together', () => {
    const f = new FileSet(root);
    stage(f);
    expect([...f.changes().keys()]).toEqual(['a/new/three.yaml', 'a/one.yaml', 'a/two.yaml', 'gone.yaml']);
    f.commit();
    expect(readFileSync(join(root, 'a/one.yaml'), 'utf8')).toBe('ONE\n');
    expect(readFileSync(join(root, 'a/new/three.yaml'), 'utf8')).toBe('three\n');
    expect(existsSync(join(root, 'gone.yaml'))).toBe(false);
    expect([...hashTree(root).keys()].sort()).toEqual(['a/new/three.yaml', 'a/one.yaml', 'a/two.yaml']);
  });

  test.each([1, 2, 3, 4, 5, 6])('a failure at rename %i restores every file and leaves no temporaries', (failAt) => {
    const before = hashTree(root);
    const f = new FailingFileSet(root, failAt);
    stage(f);
    expect(() => f.commit()).toThrow('disk full (injected)');
    expect(diffTrees(before, hashTree(root))).toEqual([]);
    expect(existsSync(join(root, 'a/new'))).toBe(false);
  });

  test('writing identical content is not a change', () => {
    const f = new FileSet(root);
    f.write('a/one.yaml', 'one\n');
    expect(f.hasChanges()).toBe(false);
  });

  test('an in-memory set reads from its base and cannot be committed', () => {
    const f = new FileSet('/nowhere', new Map([['x/y.yaml', 'y']]));
    f.write('x/z.yaml', 'z');
    expect(f.list('x')).toEqual(['y.yaml', 'z.yaml']);
    expect(() => f.commit()).toThrow('cannot be committed');
  });
});

describe('FileSet reads only what belongs to the project', () => {
  let top: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'nself-files-bounds-'));
    root = join(top, 'hasura');
    outside = join(top, 'elsewhere');
    mkdirSync(join(root, 'metadata'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'private key\n');
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  test('a file over the limit is refused with its name and the limit, before it is read', () => {
    // Sparse: 16 MiB + 1 byte of nothing, instantly.
    const big = join(root, 'metadata/actions.graphql');
    writeFileSync(big, '');
    truncateSync(big, MAX_PROJECT_FILE_BYTES + 1);
    expect(() => new FileSet(root).read('metadata/actions.graphql')).toThrow(
      new ProjectFileError('metadata/actions.graphql', 'is 16 MiB, more than the 16 MiB a project file may have; refusing to read it'),
    );
    truncateSync(big, MAX_PROJECT_FILE_BYTES);
    expect(new FileSet(root).read('metadata/actions.graphql')).toHaveLength(MAX_PROJECT_FILE_BYTES);
    // A smaller limit, to check the boundary without large reads.
    writeFileSync(big, 'x'.repeat(11));
    expect(new FileSet(root, undefined, { maxFileBytes: 11 }).read('metadata/actions.graphql')).toBe('x'.repeat(11));
    expect(() => new FileSet(root, undefined, { maxFileBytes: 10 }).read('metadata/actions.graphql')).toThrow(/is 11 bytes, more than the 10 bytes/);
  });

  test('a pipe or device in place of a file is refused instead of blocking', () => {
    expect(spawnSync('mkfifo', [join(root, 'metadata/actions.graphql')]).status).toBe(0);
    symlinkSync('/dev/zero', join(root, 'metadata/cron_triggers.yaml'));
    const f = new FileSet(root);
    expect(() => f.read('metadata/actions.graphql')).toThrow('metadata/actions.graphql: is not a regular file (a pipe, socket or device); refusing to read it');
    expect(() => f.read('metadata/cron_triggers.yaml')).toThrow(/cron_triggers.yaml: leads through a symbolic link to \/dev\/zero, outside the project/);
  });

  test('a symbolic link out of the project is neither read, nor written through, nor replaced', () => {
    symlinkSync(join(outside, 'secret'), join(root, 'metadata/actions.graphql'));
    const f = new FileSet(root);
    expect(() => f.read('metadata/actions.graphql')).toThrow(
      `metadata/actions.graphql: leads through a symbolic link to ${join(outside, 'secret')}, outside the project; refusing to follow it`,
    );
    expect(() => f.write('metadata/actions.graphql', 'type Query { x: Int }\n')).toThrow(/outside the project/);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('private key\n');
    expect(lstatSync(join(root, 'metadata/actions.graphql')).isSymbolicLink()).toBe(true);
  });

  test('a linked folder out of the project: nothing is listed, read or created there', () => {
    symlinkSync(outside, join(root, 'migrations'));
    const f = new FileSet(root);
    expect(() => f.list('migrations')).toThrow(/migrations: leads through a symbolic link to .*elsewhere, outside the project/);
    expect(() => f.read('migrations/secret')).toThrow(/outside the project/);
    const g = new FileSet(root);
    expect(() => g.write('migrations/default/1_x/up.sql', 'select 1;')).toThrow(/outside the project/);
    expect(readdirSync(outside)).toEqual(['secret']);
  });

  test('a link inside the project is followed: read, and written through, the link staying a link', () => {
    mkdirSync(join(root, 'shared'));
    writeFileSync(join(root, 'shared/actions.graphql'), 'type Query { a: Int }\n');
    symlinkSync('../shared/actions.graphql', join(root, 'metadata/actions.graphql'));
    const f = new FileSet(root);
    expect(f.read('metadata/actions.graphql')).toBe('type Query { a: Int }\n');
    f.write('metadata/actions.graphql', 'type Query { b: Int }\n');
    f.commit();
    expect(lstatSync(join(root, 'metadata/actions.graphql')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(root, 'shared/actions.graphql'), 'utf8')).toBe('type Query { b: Int }\n');
    // Deleting the linked path deletes the link, not what it points to.
    const g = new FileSet(root);
    g.remove('metadata/actions.graphql');
    g.commit();
    expect(existsSync(join(root, 'metadata/actions.graphql'))).toBe(false);
    expect(existsSync(join(root, 'shared/actions.graphql'))).toBe(true);
  });

  test('a file beside the project (../.env) may not link out of its own folder either', () => {
    const other = mkdtempSync(join(tmpdir(), 'nself-files-other-'));
    try {
      writeFileSync(join(other, 'secret'), 'private key\n');
      writeFileSync(join(top, '.env.example'), 'A=1\n');
      symlinkSync(join(other, 'secret'), join(top, '.env'));
      const f = new FileSet(root);
      expect(f.read('../.env.example')).toBe('A=1\n');
      expect(() => f.read('../.env')).toThrow(`../.env: leads through a symbolic link to ${join(other, 'secret')}, outside ${top}; refusing to follow it`);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('a link out of the project that points nowhere is not followed when writing: the link is replaced', () => {
    symlinkSync(join(outside, 'not-yet'), join(root, 'metadata/version.yaml'));
    const f = new FileSet(root);
    expect(f.read('metadata/version.yaml')).toBeUndefined();
    f.write('metadata/version.yaml', 'version: 3\n');
    f.commit();
    expect(existsSync(join(outside, 'not-yet'))).toBe(false);
    expect(lstatSync(join(root, 'metadata/version.yaml')).isFile()).toBe(true);
  });
});

describe('FileSet file modes', () => {
  let root: string;
  let umask: number;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nself-files-modes-'));
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });
  const mode = (rel: string) => statSync(join(root, rel)).mode & 0o777;

  test('a new file gets the mode asked for, else the umask’s default; a rewritten file keeps its own', () => {
    writeFileSync(join(root, 'wide'), 'a\n');
    chmodSync(join(root, 'wide'), 0o664);
    writeFileSync(join(root, 'narrow'), 'a\n');
    chmodSync(join(root, 'narrow'), 0o600);
    const f = new FileSet(root);
    f.write('secret', 'S=1\n', { mode: 0o600 });
    f.write('plain', 'P=1\n');
    f.write('wide', 'b\n', { mode: 0o600 }); // exists: its mode is the user's choice
    f.write('narrow', 'b\n');
    expect(f.mode('wide')).toBe(0o664);
    f.commit();
    expect([mode('secret'), mode('plain'), mode('wide'), mode('narrow')]).toEqual([0o600, 0o644, 0o664, 0o600]);
    expect(readFileSync(join(root, 'narrow'), 'utf8')).toBe('b\n');
  });

  test('a rewritten file keeps its owner (run as root, e.g. with sudo, on a user’s project)', () => {
    writeFileSync(join(root, 'users'), 'a\n');
    const asRoot = process.getuid?.() === 0;
    // As root the file is handed to another user first; otherwise it is the caller's own.
    if (asRoot) chownSync(join(root, 'users'), 4321, 4322);
    const f = new FileSet(root);
    f.write('users', 'b\n');
    f.commit();
    const st = statSync(join(root, 'users'));
    expect([st.uid, st.gid]).toEqual(asRoot ? [4321, 4322] : [process.getuid!(), process.getgid!()]);
  });

  test('the mode holds whatever the umask', () => {
    process.umask(0);
    const f = new FileSet(root);
    f.write('secret', 'S=1\n', { mode: 0o600 });
    f.commit();
    expect(mode('secret')).toBe(0o600);
  });
});
