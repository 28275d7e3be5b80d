/**
 * What happens to a file after its upload is complete, one status change at a time:
 *
 *   uploaded ──(files.scan with virus-scan, else files.digest)──▶ processing ──(files.image|video|document)──▶ ready
 *          └──────────▶ quarantined (virus found)                      └──▶ ready (nothing to make)
 *   any step that cannot succeed ──▶ failed (with the reason)
 *
 * Each status change fires the `files_file_status_changed` event, whose handler enqueues the next job with
 * the event id as job id (a redelivered event enqueues nothing new). Every job acts only while the file is
 * still in the status it was started for, so a job that runs twice changes nothing the second time.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Db, Queryable } from '../../../core/plugin.js';
import { mediaKind, type MediaKind } from './mime.js';
import type { StorageDriver } from './storage/driver.js';
import type { FileRow, FileStatus } from './store.js';

export const FEATURE_OF: Record<MediaKind, string> = { image: 'thumbnails', video: 'video', document: 'documents' };

/** The media step a file gets with the features on, if any. */
export function mediaStep(mimeType: string | null, features: ReadonlySet<string>): MediaKind | null {
  const kind = mediaKind(mimeType);
  return kind && features.has(FEATURE_OF[kind]) ? kind : null;
}

/** Where a file goes once it is cleared (scanned or digested). */
export function statusAfterClear(file: Pick<FileRow, 'mime_type'>, features: ReadonlySet<string>): FileStatus {
  return mediaStep(file.mime_type, features) ? 'processing' : 'ready';
}

/** Moves a file from `from` to `to` with extra columns; false when it was no longer in `from` (or deleted). */
export async function advance(db: Queryable, id: string, from: FileStatus, to: FileStatus, set: Record<string, unknown> = {}): Promise<boolean> {
  const cols = Object.keys(set);
  const assignments = cols.map((c, i) => `${c} = $${i + 4}`);
  if (to === 'ready') assignments.push('processed_at = now()');
  const r = await db.query(
    `update files.file set status = $3${assignments.length ? ', ' + assignments.join(', ') : ''}
      where id = $1 and status = $2 and deleted_at is null`,
    [id, from, to, ...cols.map((c) => set[c])],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function markFailed(db: Queryable, id: string, from: FileStatus, reason: string): Promise<boolean> {
  return advance(db, id, from, 'failed', { failure_reason: reason.slice(0, 1000) });
}

/** Streams an object to a private temporary file (tools need a seekable path); `cleanup` removes it. */
export async function downloadToTemp(storage: StorageDriver, key: string, signal?: AbortSignal): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nself-files-'));
  const path = join(dir, 'original');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(await storage.read(key), createWriteStream(path, { mode: 0o600 }), ...(signal ? [{ signal }] : []));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { path, cleanup };
}

/**
 * Runs a step; a failure that retrying cannot fix (`permanent`) or the last attempt's failure ends the file
 * `failed` with the reason instead of leaving it stuck in its status.
 */
export async function guarded<T>(
  ctx: { db: Db; job: { attempt: number; maxAttempts: number }; log: { warn(o: object, m: string): void } },
  file: { id: string; from: FileStatus; step: string },
  permanent: (e: unknown) => boolean,
  fn: () => Promise<T>,
): Promise<T | { failed: string }> {
  try {
    return await fn();
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (permanent(e)) {
      await markFailed(ctx.db, file.id, file.from, `${file.step}: ${message}`);
      ctx.log.warn({ fileId: file.id, reason: message }, `${file.step} refused the file`);
      return { failed: message };
    }
    if (ctx.job.attempt >= ctx.job.maxAttempts) {
      await markFailed(ctx.db, file.id, file.from, `${file.step} failed after ${ctx.job.maxAttempts} attempts: ${message}`);
      return { failed: message };
    }
    throw e;
  }
}
