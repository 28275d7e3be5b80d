/**
 * Child process for concurrency tests: loads the CLI and every command (and the catalogue), waits for the
 * file `BARRIER` to exist, then runs `nself-plugins <argv>` with the process' own stdout/stderr. Loading
 * first lets several of these start their command within a few milliseconds of each other.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { buildProgram, runCli } from '../../../src/cli/main.js';
import type { CliContext } from '../../../src/cli/context.js';

const ctx: CliContext = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  cwd: process.cwd(),
  env: process.env,
};
await buildProgram(ctx);
if (process.env.NSELF_PLUGINS_CATALOG) await import(pathToFileURL(process.env.NSELF_PLUGINS_CATALOG).href);
const barrier = process.env.BARRIER!;
while (!existsSync(barrier)) await new Promise((r) => setTimeout(r, 2));
process.exitCode = await runCli(process.argv.slice(2), ctx);
