/** `nself-plugins info notes | head`: output into a pipe whose reader has gone ends the command quietly. */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { catalogModule } from '../hasura/helpers.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  other: string;
}

/** Runs the CLI with its stdout (or stderr) piped to a reader that has closed before the first line. */
function runWithClosed(which: 'stdout' | 'stderr', argv: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'src/cli/main.ts'), ...argv], {
      cwd: packageRoot,
      env: { ...process.env, NODE_OPTIONS: '', NSELF_PLUGINS_CATALOG: catalogModule },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c[which].destroy();
    let other = '';
    c[which === 'stdout' ? 'stderr' : 'stdout'].on('data', (d: Buffer) => (other += d.toString()));
    c.once('error', fail);
    c.once('close', (code, signal) => done({ code, signal, other }));
  });
}

describe('output into a closed pipe', () => {
  it('stdout: exits 0 without a word on stderr', async () => {
    expect(await runWithClosed('stdout', ['info', 'notes'])).toEqual({ code: 0, signal: null, other: '' });
    expect(await runWithClosed('stdout', ['list', '--json'])).toEqual({ code: 0, signal: null, other: '' });
  }, 180_000);

  it('stderr: a failing command keeps its own status, and nothing else is printed', async () => {
    expect(await runWithClosed('stderr', ['info', 'no-such-plugin'])).toEqual({ code: 1, signal: null, other: '' });
  }, 180_000);
});
