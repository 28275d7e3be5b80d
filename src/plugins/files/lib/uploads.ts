/**
 * Starting and finishing uploads: every check that can be made before a byte moves is made when the upload
 * is created (bucket, name, type, size, quota — with the declared size reserved against the quota), and
 * everything about the bytes themselves when it is completed (stored size, real type, quota again).
 */
import { randomUUID } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import type { ActionContext, Queryable } from '../../../core/plugin.js';
import type { FilesConfig } from '../config.js';
import { filesError, type FilesErrorCode } from './errors.js';
import { ownerOf, type Actor } from './input.js';
import { canonicalMime, decideType, mimeAllowed, validMime } from './mime.js';
import { checkName } from './names.js';
import { keys, StorageError, type CompletedPart, type StorageDriver } from './storage/driver.js';
import { getBucket, lockQuota, ownFileWithBucket, usedBytes, type BucketRow, type FileRow } from './store.js';

export interface NewUpload {
  bucket?: string | null | undefined;
  name: string;
  mimeType: string;
  size: number;
  metadata?: Record<string, unknown> | null | undefined;
}

export interface Checked {
  owner: string;
  bucket: BucketRow;
  name: string;
  mimeType: string;
  size: number;
}

/** Everything about an upload that can be judged before it starts; throws the matching 4xx. */
export async function checkNewUpload(ctx: ActionContext<FilesConfig>, input: NewUpload): Promise<Checked> {
  const owner = ownerOf(ctx.session);
  const bucket = await getBucket(ctx.db, input.bucket ?? 'default');
  if (!bucket) throw filesError('files/unknown-bucket', `no bucket "${input.bucket}"`);
  const name = checkName(input.name, ctx.config.FILES_MAX_NAME_LENGTH);
  if (!name.ok) throw filesError('files/invalid-name', `invalid file name: ${name.reason}`);
  if (!validMime(input.mimeType.trim())) throw filesError('files/invalid-type', 'mimeType must look like type/subtype');
  const mimeType = canonicalMime(input.mimeType);
  if (!mimeAllowed(mimeType, bucket.allowed_mime_types)) {
    throw filesError('files/type-not-allowed', `bucket "${bucket.id}" accepts ${bucket.allowed_mime_types.join(', ')}, not ${mimeType}`);
  }
  if (input.size > Number(bucket.max_size)) throw filesError('files/too-large', `bucket "${bucket.id}" accepts files up to ${bucket.max_size} bytes`, { maxSize: Number(bucket.max_size) });
  if (input.size < Number(bucket.min_size)) throw filesError('files/too-small', `bucket "${bucket.id}" accepts files of at least ${bucket.min_size} bytes`);
  return { owner, bucket, name: name.name, mimeType, size: input.size };
}

/**
 * Runs `fn` in a transaction when the bucket has a quota (the quota lock lives until it ends), else on the
 * pool: a plain insert needs no transaction, and an upload's latency is mostly round trips.
 */
export function quotaScope<T>(ctx: ActionContext<FilesConfig>, bucket: BucketRow, fn: (db: Queryable) => Promise<T>): Promise<T> {
  return bucket.user_quota === null ? fn(ctx.db) : ctx.db.tx(fn);
}

/** Reserves quota (in the caller's transaction) and records the pending file. */
export async function insertPending(
  tx: Queryable,
  c: Checked,
  opts: { metadata?: Record<string, unknown> | null | undefined; expiresInSeconds: number; partSize?: number },
): Promise<FileRow> {
  if (c.bucket.user_quota !== null) {
    await lockQuota(tx, c.owner, c.bucket.id);
    await assertQuota(tx, c.owner, c.bucket, c.size);
  }
  const id = randomUUID();
  const r = await tx.query<FileRow>(
    `insert into files.file (id, bucket_id, owner_id, name, declared_mime_type, size, object_key, metadata, part_size, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
     returning *`,
    [id, c.bucket.id, c.owner, c.name, c.mimeType, c.size, keys.original(c.bucket.id, id), JSON.stringify(opts.metadata ?? {}), opts.partSize ?? null, opts.expiresInSeconds],
  );
  return r.rows[0]!;
}

async function assertQuota(db: Queryable, owner: string, bucket: BucketRow, size: number, exclude?: string): Promise<void> {
  if (bucket.user_quota === null) return;
  const quota = Number(bucket.user_quota);
  const used = await usedBytes(db, owner, bucket.id, exclude);
  if (used.bytes + size > quota) {
    throw filesError('files/quota-exceeded', `this would use ${used.bytes + size} of your ${quota} bytes in bucket "${bucket.id}"`, {
      usedBytes: used.bytes,
      quotaBytes: quota,
    });
  }
}

/** Bytes file-type needs to recognise every type it knows. */
const SNIFF_BYTES = 4100;

export type Completion = { file: FileRow; bucket: BucketRow } | { rejected: { code: FilesErrorCode; message: string } };

type Verdict = { ok: true; mimeType: string } | { ok: false; code: FilesErrorCode; message: string };

/**
 * Completes the upload of `id`. The checks read storage without holding a row lock; the state change is one
 * conditional update (`where status = 'pending'`), so of two completions at once one wins and the other
 * answers the winner's result. With a quota the update runs in a transaction holding the owner's quota lock.
 * A rejection marks the file `failed`, which makes the purge trigger delete the object.
 */
export async function complete(
  ctx: ActionContext<FilesConfig>,
  storage: StorageDriver,
  actor: Actor,
  id: string,
  parts: readonly CompletedPart[] | null | undefined,
): Promise<Completion> {
  const found = await ownFileWithBucket(ctx.db, id, actor);
  if (!found) throw filesError('files/not-found');
  const { file, bucket } = found;
  if (file.status !== 'pending') return found;
  const staged = keys.staging(file.object_key);

  if (file.upload_id) {
    if (!parts?.length) throw filesError('files/invalid-parts', 'a multipart upload is completed with its parts (partNumber and ETag)');
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    if (sorted.some((p, i) => i > 0 && p.partNumber === sorted[i - 1]!.partNumber)) throw filesError('files/invalid-parts', 'a part number is listed twice');
    try {
      await storage.completeMultipart(staged, file.upload_id, sorted);
    } catch (e) {
      // Completed by an earlier (or concurrent) call: the object is there, go on.
      const gone = e instanceof StorageError && /NoSuchUpload/.test(e.message);
      if (!(gone && (await storage.stat(staged)))) {
        if (e instanceof StorageError) throw filesError('files/invalid-parts', `the storage refused the parts: ${e.message}`);
        throw e;
      }
    }
  } else if (parts?.length) {
    throw filesError('files/not-multipart', 'parts are only given for multipart uploads');
  }

  const peeked = await storage.peek(staged, SNIFF_BYTES);
  if (!peeked) throw filesError('files/upload-missing', 'no bytes were uploaded for this file yet');
  const { stat, head } = peeked;
  const verdict = await judge(file, bucket, stat.size, head);

  const settle = async (db: Queryable): Promise<Completion> => {
    const reject = async (code: FilesErrorCode, message: string): Promise<Completion> => {
      const r = await db.query<FileRow>(
        `update files.file set status = 'failed', failure_reason = $2, size = $3, expires_at = null
          where id = $1 and status = 'pending' and deleted_at is null returning *`,
        [file.id, message.slice(0, 1000), stat.size],
      );
      return r.rows[0] ? { rejected: { code, message } } : current(db);
    };
    if (!verdict.ok) return reject(verdict.code, verdict.message);
    if (bucket.user_quota !== null) {
      await lockQuota(db, file.owner_id, bucket.id);
      try {
        await assertQuota(db, file.owner_id, bucket, stat.size, file.id);
      } catch (e) {
        return reject('files/quota-exceeded', (e as Error).message);
      }
    }
    const r = await db.query<FileRow>(
      `update files.file
          set status = 'uploaded', mime_type = $2, size = $3, etag = $4, sha256 = $5, uploaded_at = now(),
              expires_at = null, upload_id = null
        where id = $1 and status = 'pending' and deleted_at is null
        returning *`,
      [file.id, verdict.mimeType, stat.size, stat.etag, stat.sha256 ?? null],
    );
    return r.rows[0] ? { file: r.rows[0], bucket } : current(db);
  };
  // Another completion (or a delete) got there first: answer the file as it is now.
  const current = async (db: Queryable): Promise<Completion> => {
    const now = await ownFileWithBucket(db, id, actor);
    if (!now) throw filesError('files/not-found');
    return now;
  };
  return bucket.user_quota === null ? settle(ctx.db) : ctx.db.tx(settle);
}

/** Size, real type and the bucket's rules, from the stored size and the first bytes. */
async function judge(file: FileRow, bucket: BucketRow, size: number, head: Buffer): Promise<Verdict> {
  if (size > Number(bucket.max_size)) return { ok: false, code: 'files/too-large', message: `${size} bytes were uploaded; bucket "${bucket.id}" accepts up to ${bucket.max_size}` };
  const declared = Number(file.size);
  if (size !== declared) return { ok: false, code: 'files/size-mismatch', message: `${size} bytes were uploaded, ${declared} were declared` };
  const sniffed = await fileTypeFromBuffer(head);
  const type = decideType(file.declared_mime_type, sniffed?.mime);
  if (!type.ok) return { ok: false, code: 'files/type-mismatch', message: type.reason };
  if (!mimeAllowed(type.mimeType, bucket.allowed_mime_types)) return { ok: false, code: 'files/type-not-allowed', message: `bucket "${bucket.id}" does not accept ${type.mimeType}` };
  return { ok: true, mimeType: type.mimeType };
}
