/**
 * Wall time of `nself-plugins install <every plugin>` into a fresh copy of the realistic chat fixture
 * (read + merge + write + migrations + .env, committed to disk), and of the matching `remove`.
 * Runs the CLI in-process, so the first run includes loading the plugin modules.
 *
 *   npx tsx bench/install.ts [runs]
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/main.js';
import type { CliContext } from '../src/cli/context.js';
import { ALL_PLUGINS } from '../src/plugins/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const chat = join(root, 'test/fixtures/projects/chat');

export interface InstallBenchResult {
  plugins: string[];
  runs: number;
  firstInstallMs: number;
  installMedianMs: number;
  installP90Ms: number;
  /** Installing again into the same project (a no-op). */
  reinstallMedianMs: number;
  removeMedianMs: number;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function timed(argv: string[], cwd: string): Promise<number> {
  const errors: string[] = [];
  const ctx: CliContext = { out: () => undefined, err: (l) => errors.push(l), cwd, env: {} };
  const t0 = process.hrtime.bigint();
  const code = await runCli(argv, ctx);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (code !== 0) throw new Error(`nself-plugins ${argv.join(' ')} failed: ${errors.join(' ')}`);
  return ms;
}

export async function run(opts: { runs?: number; log?: (line: string) => void } = {}): Promise<InstallBenchResult> {
  const runs = opts.runs ?? 15;
  const log = opts.log ?? ((l: string) => console.log(l));
  const plugins = ALL_PLUGINS.map((p) => p.name);
  const installs: number[] = [];
  const reinstalls: number[] = [];
  const removes: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'nself-bench-install-'));
    try {
      cpSync(chat, join(dir, 'hasura'), { recursive: true });
      installs.push(await timed(['install', ...plugins, '--project', 'hasura', '--yes'], dir));
      reinstalls.push(await timed(['install', ...plugins, '--project', 'hasura', '--yes'], dir));
      // No database to ask: remove writes uninstall migrations, the slower path.
      removes.push(await timed(['remove', ...plugins, '--project', 'hasura', '--yes'], dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const result: InstallBenchResult = {
    plugins,
    runs,
    firstInstallMs: installs[0]!,
    installMedianMs: quantile(installs.slice(1), 0.5),
    installP90Ms: quantile(installs.slice(1), 0.9),
    reinstallMedianMs: quantile(reinstalls, 0.5),
    removeMedianMs: quantile(removes, 0.5),
  };
  log(
    `install ${plugins.join(', ')} into the chat fixture: first ${result.firstInstallMs.toFixed(1)} ms, ` +
      `then median ${result.installMedianMs.toFixed(1)} ms (p90 ${result.installP90Ms.toFixed(1)} ms); ` +
      `no-op reinstall ${result.reinstallMedianMs.toFixed(1)} ms; remove ${result.removeMedianMs.toFixed(1)} ms (${runs} runs)`,
  );
  return result;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const runs = Number(process.argv[2] ?? 15);
  await run({ runs: Number.isInteger(runs) && runs > 1 ? runs : 15 });
}
