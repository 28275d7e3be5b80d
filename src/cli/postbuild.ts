/**
 * Run after `tsc` (`npm run build` → postbuild): makes the package's bin entry runnable on its own, as
 * `npx nself-plugins` and `./dist/src/cli/main.js` run it in a checkout. tsc keeps the `#!` line of the
 * source but writes files without the executable bits; an install from the registry sets them, a checkout
 * does not. Plain node, no dependency: it runs from the freshly built `dist/`.
 */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHEBANG = '#!/usr/bin/env node';

/** Gives `file` a `#!/usr/bin/env node` first line (if it has none) and the executable bits; idempotent. */
export function makeExecutable(file: string): { file: string; mode: number; addedShebang: boolean } {
  const text = readFileSync(file, 'utf8');
  const addedShebang = !text.startsWith('#!');
  if (addedShebang) writeFileSync(file, `${SHEBANG}\n${text}`);
  // Execute wherever read is allowed (0644 → 0755), as npm does for bin entries it installs.
  const mode = statSync(file).mode & 0o777;
  const next = mode | ((mode & 0o444) >> 2);
  if (next !== mode) chmodSync(file, next);
  return { file, mode: next, addedShebang };
}

/** The files `package.json` names in `bin`, relative to its folder. */
export function binFiles(packageDir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name?: string; bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? { [pkg.name ?? '']: pkg.bin } : (pkg.bin ?? {});
  return Object.values(bin).map((f) => resolve(packageDir, f));
}

function packageDirAbove(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      statSync(join(dir, 'package.json'));
      return dir;
    } catch {
      if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const targets = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f)) : binFiles(packageDirAbove(dirname(fileURLToPath(import.meta.url))));
  for (const t of targets) {
    const before = statSync(t).mode & 0o777;
    const r = makeExecutable(t);
    // Quiet when there was nothing to do (`npm start` builds every time).
    if (r.addedShebang || r.mode !== before) process.stdout.write(`${r.file}: made executable (${r.mode.toString(8)})${r.addedShebang ? ', #! line added' : ''}\n`);
  }
}
