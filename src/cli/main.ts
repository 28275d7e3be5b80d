#!/usr/bin/env node
/**
 * The `nself-plugins` command. Each file in ./commands registers its own subcommands, so areas of the
 * suite (server, installer, jobs) add commands without touching this file.
 */
import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandFileFor } from './command-files.js';
import { CliError, type CliContext } from './context.js';

/**
 * The program with the commands of `only` (a file of ./commands, without extension) or, without it, of
 * every file there.
 */
export async function buildProgram(ctx: CliContext, only?: string): Promise<Command> {
  const program = new Command('nself-plugins')
    .description('Backend plugins for self-hosted Hasura + PostgreSQL apps')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s.trimEnd()), writeErr: (s) => ctx.err(s.trimEnd()) });
  const here = fileURLToPath(import.meta.url);
  const dir = join(dirname(here), 'commands');
  const ext = extname(here); // .ts under tsx and jest, .js when built
  const files =
    only !== undefined
      ? [only + ext]
      : readdirSync(dir)
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
  const program = await buildProgram(ctx, commandFileFor(argv[0]));
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

/**
 * Output into a closed pipe (`nself-plugins info jobs | head`) ends the command quietly, as SIGPIPE ends other
 * Unix tools: no stack trace, and status 0 unless the command had already failed. Node ignores SIGPIPE, so
 * the closed pipe shows up as an EPIPE error on the stream instead (and, for later writes, as writes to a
 * destroyed stream).
 */
export function exitQuietlyOnClosedPipe(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
      const code = Number(process.exitCode ?? 0);
      process.exit(Number.isInteger(code) ? code : 0);
    });
  }
}

/** A line to `stream`, unless the reader has gone (the quiet exit above is then on its way). */
function writeLine(stream: NodeJS.WriteStream, line: string): void {
  if (stream.destroyed || !stream.writable) return;
  stream.write(line + '\n');
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1]);
if (isMain) {
  exitQuietlyOnClosedPipe();
  const code = await runCli(process.argv.slice(2), {
    out: (l) => writeLine(process.stdout, l),
    err: (l) => writeLine(process.stderr, l),
    cwd: process.cwd(),
    env: process.env,
  });
  // Long-running commands (serve, worker) never return here until they stop.
  process.exitCode = code;
}
