import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { packageRoot } from '../../src/core/paths.js';
import { createScratchDatabase, REDIS_URL } from '../support/db.js';

function capture(env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, ctx: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), cwd: process.cwd(), env } };
}

describe('nself-plugins serve', () => {
  it('refuses to start with every configuration problem listed and exit code 1', async () => {
    const c = capture({ PORT: 'http', LOG_LEVEL: 'chatty', PLUGINS_ENABLED: 'core,nope', CORE_RECEIPT_RETENTION_DAYS: '-3' });
    const code = await runCli(['serve'], c.ctx);
    expect(code).toBe(1);
    const text = c.err.join('\n');
    expect(text).toContain('error: invalid configuration (4 problems)');
    expect(text).toContain('PORT (core): expected a number, got "http"');
    expect(text).toContain('LOG_LEVEL (core)');
    expect(text).toContain('unknown plugin "nope" in PLUGINS_ENABLED; known plugins: core');
    expect(text).toContain('CORE_RECEIPT_RETENTION_DAYS (plugin core)');
    expect(text).not.toContain('    at ');
  });

  it('serves, answers /readyz, and exits 0 after SIGTERM', async () => {
    const db = await createScratchDatabase('serve');
    const dataDir = await mkdtemp(join(tmpdir(), 'nself-serve-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'src/cli/main.ts'), 'serve', '--port', '0', '--host', '127.0.0.1'], {
        env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: db.url, REDIS_URL, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stderr.on('data', (d) => (log += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line; log:\n${log}`)), 60_000);
        child.stdout.on('data', (d) => {
          log += d;
          const m = /"msg":"listening on http:\/\/127\.0\.0\.1:(\d+)"/.exec(log);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        child.once('exit', () => reject(new Error(`exited early; log:\n${log}`)));
      });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', engines: { database: 'external', queue: 'redis' } });
      expect(log).toContain('"msg":"engines"');
      expect(log).toContain('generated one in');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(log).toContain('"msg":"stopped"');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
