/** The files tables: typed rows and the queries every handler shares. All SQL is parametrized. */
import type { Queryable } from '../../../core/plugin.js';
import type { Actor } from './input.js';

export type FileStatus = 'pending' | 'uploaded' | 'processing' | 'ready' | 'quarantined' | 'failed';

export interface BucketRow {
  id: string;
  public: boolean;
  min_size: string;
  max_size: string;
  allowed_mime_types: string[];
  url_expires_in: number;
  variant_sizes: number[];
  variant_formats: string[];
  variant_fit: 'inside' | 'cover';
  user_quota: string | null;
  cache_control: string;
}

export interface Variant {
  /** `320.webp`, `poster.1280.avif`… */
  name: string;
  kind: 'image' | 'poster' | 'preview';
  format: string;
  width: number;
  height: number;
  size: number;
  key: string;
}

export interface FileRow {
  id: string;
  bucket_id: string;
  owner_id: string;
  name: string;
  declared_mime_type: string;
  mime_type: string | null;
  size: string;
  sha256: string | null;
  etag: string | null;
  object_key: string;
  upload_id: string | null;
  part_size: string | null;
  status: FileStatus;
  failure_reason: string | null;
  scan_result: 'clean' | 'infected' | null;
  virus_name: string | null;
  variants: Variant[];
  blurhash: string | null;
  width: number | null;
  height: number | null;
  duration_seconds: number | null;
  pages: number | null;
  metadata: Record<string, unknown>;
  expires_at: Date | null;
  uploaded_at: Date | null;
  scanned_at: Date | null;
  processed_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  purged_at: Date | null;
}

const BUCKET_COLUMNS =
  'id, public, min_size, max_size, allowed_mime_types, url_expires_in, variant_sizes, variant_formats, variant_fit, user_quota, cache_control';

export async function getBucket(db: Queryable, id: string): Promise<BucketRow | null> {
  const r = await db.query<BucketRow>(`select ${BUCKET_COLUMNS} from files.bucket where id = $1`, [id]);
  return r.rows[0] ?? null;
}

export async function listBuckets(db: Queryable): Promise<BucketRow[]> {
  return (await db.query<BucketRow>(`select ${BUCKET_COLUMNS} from files.bucket order by id`)).rows;
}

export async function getFile(db: Queryable, id: string): Promise<FileRow | null> {
  return (await db.query<FileRow>('select * from files.file where id = $1', [id])).rows[0] ?? null;
}

/**
 * A live file the actor owns (admin: any), locked for the transaction when `lock`. Another user's file,
 * a deleted one and a missing one look the same: null.
 */
export async function ownFile(db: Queryable, id: string, actor: Actor, lock = false): Promise<FileRow | null> {
  const r = await db.query<FileRow>(
    `select * from files.file where id = $1 and deleted_at is null and ($2::text is null or owner_id = $2)${lock ? ' for update' : ''}`,
    [id, actor.admin ? null : actor.userId],
  );
  return r.rows[0] ?? null;
}

/** `ownFile` with its bucket, in one query. */
export async function ownFileWithBucket(db: Queryable, id: string, actor: Actor): Promise<{ file: FileRow; bucket: BucketRow } | null> {
  const r = await db.query<FileRow & { bucket: BucketRow }>(
    `select f.*, to_jsonb(b) as bucket
       from files.file f join files.bucket b on b.id = f.bucket_id
      where f.id = $1 and f.deleted_at is null and ($2::text is null or f.owner_id = $2)`,
    [id, actor.admin ? null : actor.userId],
  );
  const row = r.rows[0];
  if (!row) return null;
  const { bucket, ...file } = row;
  return { file: file as FileRow, bucket: bucketFromJson(bucket) };
}

/** A bucket row read through `to_jsonb` (bigints come back as numbers there). */
function bucketFromJson(b: BucketRow): BucketRow {
  return { ...b, min_size: String(b.min_size), max_size: String(b.max_size), user_quota: b.user_quota === null ? null : String(b.user_quota) };
}

/** A file the actor may read: its own, or a ready file of a public bucket (same rule as the select permission). */
export async function visibleFile(db: Queryable, id: string, actor: Actor): Promise<{ file: FileRow; bucket: BucketRow } | null> {
  const r = await db.query<FileRow & { bucket: BucketRow }>(
    `select f.*, to_jsonb(b) as bucket
       from files.file f join files.bucket b on b.id = f.bucket_id
      where f.id = $1 and f.deleted_at is null
        and ($2::boolean or f.owner_id = $3 or (b.public and f.status = 'ready'))`,
    [id, actor.admin, actor.userId],
  );
  const row = r.rows[0];
  if (!row) return null;
  const { bucket, ...file } = row;
  return { file: file as FileRow, bucket: bucketFromJson(bucket) };
}

/** Serialises quota decisions of one owner in one bucket (held until the transaction ends). */
export async function lockQuota(tx: Queryable, owner: string, bucket: string): Promise<void> {
  await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 7306))', [`files/${bucket}/${owner}`]);
}

/**
 * Bytes an owner holds in a bucket: live files, pending ones at their declared size (reserved), failed ones
 * not at all (their objects are removed). `exclude` leaves one file out (the one being completed).
 */
export async function usedBytes(db: Queryable, owner: string, bucket: string, exclude?: string): Promise<{ bytes: number; files: number }> {
  const r = await db.query<{ bytes: string; files: number }>(
    `select coalesce(sum(size), 0)::text as bytes, count(*)::int as files
       from files.file
      where owner_id = $1 and bucket_id = $2 and deleted_at is null and status <> 'failed'
        and ($3::uuid is null or id <> $3)`,
    [owner, bucket, exclude ?? null],
  );
  return { bytes: Number(r.rows[0]!.bytes), files: r.rows[0]!.files };
}
