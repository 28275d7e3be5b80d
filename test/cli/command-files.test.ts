/**
 * The table that lets a command line load only its command's file must match what the files register: a
 * command missing from it would still run (unknown names load every file), but a stale entry would hide one.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { COMMAND_FILES, commandFileFor } from '../../src/cli/command-files.js';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/commands');
const quiet: CliContext = { out: () => undefined, err: () => undefined, cwd: process.cwd(), env: {} };

describe('command files', () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();

  it('lists every command file', () => {
    expect(Object.keys(COMMAND_FILES).sort()).toEqual(files);
  });

  it.each(files)('%s registers exactly the commands the table gives it', async (file) => {
    const program = new Command('t');
    const mod = (await import(pathToFileURL(join(dir, `${file}.ts`)).href)) as { register(p: Command, c: CliContext): void };
    mod.register(program, quiet);
    expect(program.commands.map((c) => c.name()).sort()).toEqual([...COMMAND_FILES[file]!].sort());
  });

  it('maps a command to its file and anything else to none', () => {
    expect(commandFileFor('serve')).toBe('serve');
    expect(commandFileFor('remove')).toBe('install');
    expect(commandFileFor('info')).toBe('plugins');
    expect(commandFileFor('--help')).toBeUndefined();
    expect(commandFileFor('no-such-command')).toBeUndefined();
    expect(commandFileFor(undefined)).toBeUndefined();
  });

  it('help without a command still lists every command', async () => {
    const out: string[] = [];
    const code = await runCli(['--help'], { ...quiet, out: (l) => out.push(l) });
    expect(code).toBe(0);
    const help = out.join('\n');
    for (const name of Object.values(COMMAND_FILES).flat()) expect(help).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
  });

  it('an unknown command is still reported as unknown', async () => {
    const err: string[] = [];
    const code = await runCli(['no-such-command'], { ...quiet, err: (l) => err.push(l) });
    expect(code).not.toBe(0);
    expect(err.join('\n')).toMatch(/unknown command 'no-such-command'/);
  });

  it('a command loaded alone keeps its own help', async () => {
    const out: string[] = [];
    expect(await runCli(['serve', '--help'], { ...quiet, out: (l) => out.push(l) })).toBe(0);
    expect(out.join('\n')).toMatch(/--port <port>/);
  });
});
