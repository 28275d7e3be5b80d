/**
 * Child process for the lock tests: waits for `BARRIER` to exist, then `ROUNDS` times takes the lock at
 * `LOCK`, reads the number in `COUNTER`, yields, writes it plus one. Without mutual exclusion, increments
 * are lost.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { lock } from '../../../src/core/lock-file.js';

const { LOCK, COUNTER, BARRIER, ROUNDS } = process.env as Record<string, string>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

while (!existsSync(BARRIER!)) await sleep(2);
for (let i = 0; i < Number(ROUNDS); i++) {
  const held = await lock(LOCK!, { what: `count ${process.pid}`, waitMs: 60_000, pollMs: 5 });
  const n = Number(readFileSync(COUNTER!, 'utf8'));
  await sleep(1);
  writeFileSync(COUNTER!, String(n + 1));
  held.release();
}
