/**
 * Virus scan of a 10 MB file through our clamd client (INSTREAM over the Unix socket, streamed from disk)
 * against `clamdscan --stream` on the same file and the same clamd, alternating, medians of N rounds.
 * Goal ≥ 0.90×. Not a test.
 *
 *   npx tsx bench/files-clamd.ts [rounds]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClamd, which } from '../src/plugins/files/__tests__/support/clamd.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(opts: { rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const rounds = opts.rounds ?? 15;
  const clamdscan = which('clamdscan');
  const dir = mkdtempSync(join(tmpdir(), 'bench-clamd-'));
  const file = join(dir, 'ten-mb.bin');
  writeFileSync(file, randomBytes(10 * 1024 * 1024));
  const clamd = await startClamd();
  try {
    const client = clamd.client(60_000);
    const ours: number[] = [];
    const theirs: number[] = [];
    // One warm-up each: clamd's first scan pays for loading its engine state.
    await client.scan(createReadStream(file));
    spawnSync(clamdscan, ['--stream', '--no-summary', `--config-file=${clamd.conf}`, file]);
    for (let i = 0; i < rounds; i++) {
      let t = process.hrtime.bigint();
      const v = await client.scan(createReadStream(file));
      ours.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!v.clean) throw new Error('random bytes were found infected');
      t = process.hrtime.bigint();
      const r = spawnSync(clamdscan, ['--stream', '--no-summary', `--config-file=${clamd.conf}`, file], { encoding: 'utf8' });
      theirs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 0) throw new Error(`clamdscan failed: ${r.stdout} ${r.stderr}`);
    }
    const o = median(ours);
    const c = median(theirs);
    const ratio = c / o;
    say(`clamd scan of 10 MB: ours ${o.toFixed(1)} ms, clamdscan --stream ${c.toFixed(1)} ms (medians of ${rounds}) → throughput ratio ${ratio.toFixed(2)}× (goal ≥ 0.90×)`);
    return { rounds, oursMs: o, clamdscanMs: c, ratio };
  } finally {
    await clamd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ rounds: process.argv[2] ? Number(process.argv[2]) : undefined });
}
