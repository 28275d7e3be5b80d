/**
 * The image variant pipeline (`makeImageVariants`: header check, orientation, WebP + AVIF at 320 and 1280,
 * blurhash) against the raw sharp calls making the same variants from the same files (one pipeline per
 * variant, as a hand-written resizer does), alternating per image, total time over the set.
 * Goal ≥ 0.85×. Not a test.
 *
 *   npx tsx bench/files-variants.ts [images] [rounds]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { encodeAs, makeImageVariants, type VariantFormat } from '../src/plugins/files/lib/processing/image.js';

const SIZES = [320, 1280];
const FORMATS: VariantFormat[] = ['webp', 'avif'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function photo(i: number): Promise<Buffer> {
  // A noisy gradient photo-sized image: noise keeps the encoders honest (flat colour compresses to nothing).
  const w = 2400;
  const h = 1600;
  const raw = Buffer.alloc(w * h * 3);
  let seed = i * 7919 + 1;
  for (let p = 0; p < raw.length; p += 3) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const x = (p / 3) % w;
    raw[p] = (x * 255) / w + (seed & 15);
    raw[p + 1] = ((p / 3 / w) * 255) / h + ((seed >> 4) & 15);
    raw[p + 2] = 128 + ((seed >> 8) & 31);
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 88 }).withMetadata({ orientation: 1 }).toBuffer();
}

async function raw(path: string): Promise<number> {
  let bytes = 0;
  for (const size of SIZES) {
    for (const f of FORMATS) {
      const out = await encodeAs(sharp(path).rotate().resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true }), f).toBuffer();
      bytes += out.length;
    }
  }
  return bytes;
}

export async function run(opts: { images?: number; rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.images ?? 6;
  const rounds = opts.rounds ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'bench-variants-'));
  try {
    const paths: string[] = [];
    for (let i = 0; i < n; i++) {
      const p = join(dir, `${i}.jpg`);
      writeFileSync(p, await photo(i));
      paths.push(p);
    }
    await raw(paths[0]!);
    await makeImageVariants(paths[0]!, { sizes: SIZES, formats: FORMATS, fit: 'inside', maxPixels: 50e6, blurhash: true });
    const ours: number[] = [];
    const base: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let o = 0;
      let b = 0;
      for (const p of paths) {
        let t = performance.now();
        await raw(p);
        b += performance.now() - t;
        t = performance.now();
        const res = await makeImageVariants(p, { sizes: SIZES, formats: FORMATS, fit: 'inside', maxPixels: 50e6, blurhash: true });
        o += performance.now() - t;
        if (res.variants.length !== SIZES.length * FORMATS.length) throw new Error('missing variants');
      }
      ours.push(o / n);
      base.push(b / n);
    }
    const o = median(ours);
    const b = median(base);
    const ratio = b / o;
    say(`variants of a 2400×1600 JPEG (WebP+AVIF at ${SIZES.join(', ')}): pipeline ${o.toFixed(0)} ms/image (with blurhash and header check), raw sharp ${b.toFixed(0)} ms/image → ${ratio.toFixed(2)}× (goal ≥ 0.85×)`);
    return { images: n, rounds, pipelineMsPerImage: o, rawSharpMsPerImage: b, ratio };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ images: process.argv[2] ? Number(process.argv[2]) : undefined, rounds: process.argv[3] ? Number(process.argv[3]) : undefined });
}
