/** Temp copies of fixture projects and whole-tree hashes, for "nothing changed" / "byte-for-byte" checks. */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliContext } from '../../src/cli/context.js';
import { runCli } from '../../src/cli/main.js';

export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const catalogModule = join(fixturesDir, 'plugins', 'catalog.ts');

export interface TempProject {
  /** Folder holding `hasura/` (and `.env` files beside it). */
  root: string;
  /** The Hasura project folder. */
  dir: string;
  cleanup(): void;
}

/** Copies `test/fixtures/projects/<name>` to `<tmp>/hasura`. */
export function copyFixture(name: 'empty' | 'chat'): TempProject {
  const root = mkdtempSync(join(tmpdir(), `nself-${name}-`));
  const dir = join(root, 'hasura');
  cpSync(join(fixturesDir, 'projects', name), dir, { recursive: true });
  return { root, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** path (relative to `dir`) → sha256 of every file below `dir`. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    for (const n of readdirSync(p).sort()) {
      const full = join(p, n);
      if (statSync(full).isDirectory()) walk(full);
      else out.set(relative(dir, full), createHash('sha256').update(readFileSync(full)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

export function diffTrees(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with the fixture catalogue unless `env` says otherwise. */
export async function cli(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? { NSELF_PLUGINS_CATALOG: catalogModule },
  };
  const code = await runCli(argv, ctx);
  return { code, out: out.join('\n'), err: err.join('\n') };
}
