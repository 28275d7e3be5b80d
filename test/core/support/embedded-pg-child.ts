/**
 * Child process for the embedded PostgreSQL tests: once the file `BARRIER` exists, starts embedded
 * PostgreSQL in `DATA_DIR`, prints `{"url","dir"}` (or `{"error"}`) as one line, then stops it when a line
 * arrives on stdin and prints `{"stopped":true}`.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startEmbeddedPostgres } from '../../../src/core/embedded-postgres.js';

const barrier = process.env.BARRIER!;
while (!existsSync(barrier)) await new Promise((r) => setTimeout(r, 2));
try {
  const pg = await startEmbeddedPostgres({ dataDir: process.env.DATA_DIR! });
  process.stdout.write(JSON.stringify({ url: pg.url, dir: pg.dir }) + '\n');
  const lines = createInterface({ input: process.stdin });
  for await (const _ of lines) break;
  await pg.stop();
  process.stdout.write(JSON.stringify({ stopped: true }) + '\n');
  process.exit(0);
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
  process.exit(1);
}
