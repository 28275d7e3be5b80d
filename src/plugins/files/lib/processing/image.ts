/**
 * Image variants with sharp: orientation applied, metadata (EXIF, GPS, ICC comments) stripped, one variant
 * per size × format (AVIF, WebP…), a BlurHash placeholder and the oriented dimensions.
 *
 * The header is read first and an image with more pixels than allowed is refused before a single pixel is
 * decoded: a tiny PNG can declare 100000 × 100000 pixels and would take tens of GB to decode.
 */
import type { Metadata, Sharp } from 'sharp';
import { lazyModule } from '../../../../core/lazy-module.js';
import { encode } from 'blurhash';
import { ProcessingRefused } from './refused.js';

/** sharp (libvips) loads with the first image processed, not when the server starts. */
const sharpModule = lazyModule(async () => (await import('sharp')).default);

export type VariantFormat = 'webp' | 'avif' | 'jpeg' | 'png';

export interface VariantSpec {
  sizes: readonly number[];
  formats: readonly VariantFormat[];
  fit: 'inside' | 'cover';
  maxPixels: number;
  blurhash: boolean;
}

export interface MadeVariant {
  name: string;
  format: VariantFormat;
  width: number;
  height: number;
  data: Buffer;
}

export interface ImageResult {
  width: number;
  height: number;
  variants: MadeVariant[];
  blurhash: string | null;
}

/** Quality settings: visually close to the source at a fraction of the bytes; AVIF effort kept moderate for CPU. */
export function encodeAs(img: Sharp, format: VariantFormat): Sharp {
  switch (format) {
    case 'webp':
      return img.webp({ quality: 80, effort: 4 });
    case 'avif':
      return img.avif({ quality: 50, effort: 2 });
    case 'jpeg':
      return img.jpeg({ quality: 82, mozjpeg: true });
    case 'png':
      return img.png({ compressionLevel: 9, palette: true });
  }
}

/** Width and height as displayed (EXIF orientations 5–8 swap them). */
export async function inspect(input: string | Buffer, maxPixels: number): Promise<{ width: number; height: number; format: string }> {
  const sharp = await sharpModule();
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ProcessingRefused(`not a readable image: ${(e as Error).message}`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new ProcessingRefused('the image has no dimensions');
  if (width * height > maxPixels) {
    throw new ProcessingRefused(`the image is ${width}×${height} pixels, more than the ${maxPixels} allowed`);
  }
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: swap ? height : width, height: swap ? width : height, format: meta.format ?? 'unknown' };
}

async function blurhashOf(input: string | Buffer, maxPixels: number): Promise<string> {
  const sharp = await sharpModule();
  const { data, info } = await sharp(input, { limitInputPixels: maxPixels, failOn: 'error' })
    .rotate()
    .resize(32, 32, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const cx = info.width >= info.height ? 4 : 3;
  const cy = info.width >= info.height ? 3 : 4;
  return encode(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height, cx, cy);
}

/** Makes every variant of an image given as a path (preferred: read lazily) or a buffer. */
export async function makeImageVariants(input: string | Buffer, spec: VariantSpec, name = ''): Promise<ImageResult> {
  const { width, height } = await inspect(input, spec.maxPixels);
  const sharp = await sharpModule();
  const base = sharp(input, { limitInputPixels: spec.maxPixels, failOn: 'error' }).rotate();
  const jobs: Promise<MadeVariant>[] = [];
  for (const size of [...new Set(spec.sizes)].sort((a, b) => a - b)) {
    // Square crops never upscale: a 300×200 source gives 200×200 at every larger size.
    const side = spec.fit === 'cover' ? Math.min(size, width, height) : size;
    for (const format of spec.formats) {
      const resized = base.clone().resize({
        width: side,
        height: side,
        fit: spec.fit,
        withoutEnlargement: true,
        ...(spec.fit === 'cover' ? { position: sharp.strategy.attention } : {}),
      });
      jobs.push(
        encodeAs(resized, format)
          .toBuffer({ resolveWithObject: true })
          .then(({ data, info }) => ({ name: `${name}${size}.${format}`, format, width: info.width, height: info.height, data })),
      );
    }
  }
  let variants: MadeVariant[];
  let blurhash: string | null = null;
  try {
    [variants, blurhash] = await Promise.all([Promise.all(jobs), spec.blurhash ? blurhashOf(input, spec.maxPixels) : Promise.resolve(null)]);
  } catch (e) {
    if (e instanceof ProcessingRefused) throw e;
    throw new ProcessingRefused(`the image could not be decoded: ${(e as Error).message}`);
  }
  return { width, height, variants, blurhash };
}
