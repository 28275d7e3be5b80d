import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSet } from '../../src/hasura/files.js';
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
