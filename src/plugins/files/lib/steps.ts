/**
 * The work of each processing job (see `pipeline.ts` for the order). Each returns what it did, for the
 * job's result, and acts only on a file still in the status the step is for.
 */
import { createHash } from 'node:crypto';
import type { JobContext } from '../../jobs/index.js';
import type { FilesConfig } from '../config.js';
import { ClamdError } from './clamd.js';
import { advance, downloadToTemp, guarded, markFailed, mediaStep, statusAfterClear } from './pipeline.js';
import { makeImageVariants, type ImageResult, type VariantFormat, type VariantSpec } from './processing/image.js';
import { firstPage, pageCount } from './processing/pdf.js';
import { ProcessingRefused } from './processing/refused.js';
import { posterFrame, posterTime, probe } from './processing/video.js';
import { filesClamd, filesStorage } from './services.js';
import { keys, StorageError } from './storage/driver.js';
import { getBucket, getFile, type BucketRow, type FileRow, type Variant } from './store.js';

type Ctx = JobContext<FilesConfig>;
export type StepResult = { skipped: string } | { failed: string } | Record<string, unknown>;

async function fileIn(ctx: Ctx, id: string, status: FileRow['status']): Promise<FileRow | { skipped: string }> {
  const file = await getFile(ctx.db, id);
  if (!file) return { skipped: 'the file is gone' };
  if (file.deleted_at) return { skipped: 'the file was deleted' };
  if (file.status !== status) return { skipped: `the file is ${file.status}, not ${status}` };
  return file;
}

const missingObject = (e: unknown) => e instanceof StorageError && e.message.startsWith('NoSuchKey');

/**
 * Moves the checked upload to the key downloads are signed for, if it still is the upload that was
 * completed (same ETag); a replaced one fails the file. Returns a result only when the file failed.
 */
async function promote(ctx: Ctx, file: FileRow): Promise<StepResult | null> {
  const storage = ctx.service(filesStorage);
  const outcome = await storage.promote(keys.staging(file.object_key), file.object_key, { etag: file.etag ?? '', size: Number(file.size), sha256: file.sha256 });
  if (outcome === 'moved') return null;
  const reason = outcome === 'changed' ? 'the upload was replaced after it was completed' : 'the uploaded object is gone';
  await markFailed(ctx.db, file.id, 'uploaded', reason);
  ctx.log.warn({ fileId: file.id, owner: file.owner_id, outcome }, reason);
  return { failed: reason };
}

/**
 * Moves the upload where only the server writes, then streams exactly those bytes once through clamd and
 * sha256 (what is scanned is what will be served); an infected file is quarantined and moved out of reach.
 */
export async function scanStep(fileId: string, ctx: Ctx): Promise<StepResult> {
  const found = await getFile(ctx.db, fileId);
  const storage = ctx.service(filesStorage);
  // A quarantine recorded by an attempt that died before moving the object: finish the move.
  if (found?.status === 'quarantined' && found.scan_result === 'infected') {
    await storage.move(found.object_key, keys.quarantine(found.bucket_id, found.id));
    return { quarantined: found.virus_name };
  }
  const file = await fileIn(ctx, fileId, 'uploaded');
  if ('skipped' in file) return file;
  const clamd = ctx.service(filesClamd);
  return guarded(ctx, { id: file.id, from: 'uploaded', step: 'virus scan' }, (e) => e instanceof ClamdError || missingObject(e), async () => {
    const promoted = await promote(ctx, file);
    if (promoted) return promoted;
    const hash = createHash('sha256');
    const body = await storage.read(file.object_key);
    async function* hashed() {
      for await (const chunk of body) {
        hash.update(chunk as Buffer);
        yield chunk as Buffer;
      }
    }
    let verdict;
    try {
      verdict = await clamd.scan(hashed(), ctx.signal);
    } finally {
      body.destroy();
    }
    if (!verdict.clean) {
      // Recorded first: from this moment nothing signs a URL for it, even if the move below must be retried.
      await advance(ctx.db, file.id, 'uploaded', 'quarantined', {
        scan_result: 'infected',
        virus_name: verdict.signature,
        scanned_at: new Date(),
        failure_reason: `virus found: ${verdict.signature}`,
      });
      await storage.move(file.object_key, keys.quarantine(file.bucket_id, file.id));
      ctx.log.warn({ fileId: file.id, owner: file.owner_id, signature: verdict.signature }, 'infected upload quarantined');
      return { quarantined: verdict.signature };
    }
    const next = statusAfterClear(file, ctx.features);
    await advance(ctx.db, file.id, 'uploaded', next, { scan_result: 'clean', scanned_at: new Date(), sha256: hash.digest('hex') });
    return { clean: true, next };
  });
}

/** Without a virus scan: moved into place, the sha256 (unless the driver knows it already) and on. */
export async function digestStep(fileId: string, ctx: Ctx): Promise<StepResult> {
  const file = await fileIn(ctx, fileId, 'uploaded');
  if ('skipped' in file) return file;
  const storage = ctx.service(filesStorage);
  return guarded(ctx, { id: file.id, from: 'uploaded', step: 'digest' }, missingObject, async () => {
    const promoted = await promote(ctx, file);
    if (promoted) return promoted;
    // Hashed where only the server writes (the local driver compared it while moving).
    let sha256 = file.sha256;
    if (!sha256) {
      const hash = createHash('sha256');
      for await (const chunk of await storage.read(file.object_key)) hash.update(chunk as Buffer);
      sha256 = hash.digest('hex');
    }
    const next = statusAfterClear(file, ctx.features);
    await advance(ctx.db, file.id, 'uploaded', next, { sha256 });
    return { next };
  });
}

function variantSpec(bucket: BucketRow, config: FilesConfig): VariantSpec {
  return {
    sizes: bucket.variant_sizes,
    formats: bucket.variant_formats as VariantFormat[],
    fit: bucket.variant_fit,
    maxPixels: config.FILES_MAX_IMAGE_PIXELS,
    blurhash: config.FILES_BLURHASH,
  };
}

interface MediaResult {
  image: ImageResult | null;
  kind: Variant['kind'];
  set: Record<string, unknown>;
}

async function makeMedia(kind: 'image' | 'video' | 'document', path: string, bucket: BucketRow, ctx: Ctx): Promise<MediaResult> {
  const spec = variantSpec(bucket, ctx.config);
  const timeoutMs = ctx.config.FILES_TOOL_TIMEOUT_MS;
  if (kind === 'image') {
    const image = await makeImageVariants(path, spec);
    return { image, kind: 'image', set: { width: image.width, height: image.height, blurhash: image.blurhash } };
  }
  if (kind === 'video') {
    const tools = { ffprobe: ctx.config.FILES_FFPROBE_PATH, ffmpeg: ctx.config.FILES_FFMPEG_PATH, timeoutMs, signal: ctx.signal };
    const p = await probe(path, tools);
    const set = { duration_seconds: p.durationSeconds, width: p.width, height: p.height };
    if (!p.hasVideo) return { image: null, kind: 'poster', set };
    const frame = await posterFrame(path, posterTime(p.durationSeconds), tools);
    const image = await makeImageVariants(frame, spec, 'poster.');
    return { image, kind: 'poster', set: { ...set, blurhash: image.blurhash } };
  }
  const tools = { pdfinfo: ctx.config.FILES_PDFINFO_PATH, pdftoppm: ctx.config.FILES_PDFTOPPM_PATH, timeoutMs, signal: ctx.signal };
  const pages = await pageCount(path, tools);
  const page = await firstPage(path, Math.max(...spec.sizes, 64), tools);
  const image = await makeImageVariants(page, spec, 'preview.');
  return { image, kind: 'preview', set: { pages, width: image.width, height: image.height, blurhash: image.blurhash } };
}

/** Variants, poster or preview, dimensions, duration, pages, blurhash; then ready. */
export async function mediaStepRun(fileId: string, ctx: Ctx): Promise<StepResult> {
  const file = await fileIn(ctx, fileId, 'processing');
  if ('skipped' in file) return file;
  const kind = mediaStep(file.mime_type, ctx.features);
  if (!kind) {
    await advance(ctx.db, file.id, 'processing', 'ready');
    return { next: 'ready' };
  }
  const bucket = await getBucket(ctx.db, file.bucket_id);
  if (!bucket) return { skipped: 'the bucket is gone' };
  const storage = ctx.service(filesStorage);
  const permanent = (e: unknown) => e instanceof ProcessingRefused || missingObject(e);
  return guarded(ctx, { id: file.id, from: 'processing', step: kind }, permanent, async () => {
    const tmp = await downloadToTemp(storage, file.object_key, ctx.signal);
    try {
      const made = await makeMedia(kind, tmp.path, bucket, ctx);
      const variants: Variant[] = [];
      for (const v of made.image?.variants ?? []) {
        const key = keys.variant(file.bucket_id, file.id, v.name);
        await storage.write(key, v.data, `image/${v.format}`);
        variants.push({ name: v.name, kind: made.kind, format: v.format, width: v.width, height: v.height, size: v.data.length, key });
      }
      const done = await advance(ctx.db, file.id, 'processing', 'ready', { ...made.set, variants: JSON.stringify(variants) });
      // Deleted (or failed) while we worked: its purge may have run before these variants existed.
      if (!done) await storage.removePrefix(keys.variantPrefix(file.bucket_id, file.id));
      // Reprocessed at other sizes or formats: the variants no longer listed go.
      const kept = new Set(variants.map((v) => v.key));
      const stale = (file.variants ?? []).map((v) => v.key).filter((k) => !kept.has(k));
      if (done && stale.length) await storage.remove(stale);
      return { kind, variants: variants.length };
    } finally {
      await tmp.cleanup();
    }
  });
}
