#!/usr/bin/env node
/**
 * The `nself-plugins` command. Each file in ./commands registers its own subcommands, so areas of the
 * suite (server, installer, jobs) add commands without touching this file.
 */
import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliError, type CliContext } from './context.js';

export async function buildProgram(ctx: CliContext): Promise<Command> {
  const program = new Command('nself-plugins')
    .description('Backend plugins for self-hosted Hasura + PostgreSQL apps')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s.trimEnd()), writeErr: (s) => ctx.err(s.trimEnd()) });
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
  const files = readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { register?: (p: Command, c: CliContext) => void };
    mod.register?.(program, ctx);
  }
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = await buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof CliError) {
      ctx.err(`error: ${e.message}`);
      return e.exitCode;
    }
    ctx.err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1]);
if (isMain) {
  const code = await runCli(process.argv.slice(2), {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    cwd: process.cwd(),
    env: process.env,
  });
  // Long-running commands (serve, worker) never return here until they stop.
  process.exitCode = code;
}
