/** `npm run build` leaves a bin entry that runs by itself, as `npx nself-plugins` runs it in a checkout. */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { binFiles, makeExecutable, SHEBANG } from '../../src/cli/postbuild.js';

describe('the bin entry', () => {
  it('after npm run build, dist/src/cli/main.js runs directly', () => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: packageRoot, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect([build.status, build.stderr]).toEqual([0, '']);
    const bin = join(packageRoot, 'dist/src/cli/main.js');
    expect(binFiles(packageRoot)).toEqual([bin]);
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe(SHEBANG);
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    // Run as the file itself: the kernel reads the #! line.
    const run = spawnSync(bin, ['list'], { cwd: tmpdir(), encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^core@\S+ {2}/m);
    expect(run.stdout).toMatch(/^jobs@\S+ {2}/m);
  }, 240_000);

  it('makeExecutable adds the #! line where missing and execute bits where read is allowed; a second run changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nself-postbuild-'));
    try {
      const plain = join(dir, 'plain.js');
      writeFileSync(plain, 'console.log(1);\n');
      chmodSync(plain, 0o644);
      expect(makeExecutable(plain)).toEqual({ file: plain, mode: 0o755, addedShebang: true });
      expect(readFileSync(plain, 'utf8')).toBe(`${SHEBANG}\nconsole.log(1);\n`);
      expect(makeExecutable(plain)).toEqual({ file: plain, mode: 0o755, addedShebang: false });
      expect(readFileSync(plain, 'utf8')).toBe(`${SHEBANG}\nconsole.log(1);\n`);

      const own = join(dir, 'own.js');
      writeFileSync(own, '#!/usr/bin/env node\n');
      chmodSync(own, 0o600);
      expect(makeExecutable(own)).toEqual({ file: own, mode: 0o700, addedShebang: false });
      expect(statSync(own).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
