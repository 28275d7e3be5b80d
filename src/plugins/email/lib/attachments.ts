/**
 * Attachments by `files` id. The email plugin reads a file through this narrow interface only, so it works
 * with whichever storage the files plugin runs (local folder, S3, MinIO) and without the files plugin at all
 * (attachments are then refused with a clear error).
 *
 * `filesAttachmentSource` reads the `files.file` row (the files plugin's table: id, name, sniffed (else declared) MIME type, size,
 * status, soft delete) and streams the object through an `openObject` function the files plugin's storage
 * service provides. Only files that finished processing (`ready`) and are neither deleted nor quarantined can
 * be attached.
 */
import type { Readable } from 'node:stream';
import type { Queryable } from '../../../core/plugin.js';

export interface AttachmentInfo {
  fileId: string;
  filename: string;
  contentType: string;
  size: number;
}

export interface AttachmentSource {
  /** The files, in order; ids that do not name an attachable file are listed in `missing`. */
  describe(fileIds: readonly string[]): Promise<{ found: AttachmentInfo[]; missing: string[] }>;
  open(fileId: string): Promise<Readable>;
}

/** A row of files.file, as much of it as attaching needs. */
export interface FileRow {
  id: string;
  bucket_id: string;
  /** Where the files plugin's storage keeps the bytes. */
  object_key: string;
  name: string;
  mime_type: string;
  size: number;
}

/** Streams a stored file's bytes (the files plugin's storage service). */
export type OpenObject = (file: FileRow) => Promise<Readable>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function filesAttachmentSource(db: Queryable, openObject: OpenObject): AttachmentSource {
  const rows = async (ids: readonly string[]) => {
    const valid = ids.filter((id) => UUID.test(id));
    if (!valid.length) return new Map<string, FileRow>();
    const r = await db.query<FileRow & { size: string | number }>(
      `select id::text, bucket_id, object_key, name, coalesce(mime_type, declared_mime_type) as mime_type, size
         from files.file
        where id = any($1::uuid[]) and status = 'ready' and deleted_at is null`,
      [valid],
    );
    return new Map(r.rows.map((row) => [row.id, { ...row, size: Number(row.size) }]));
  };
  return {
    async describe(ids) {
      const byId = await rows(ids);
      const found: AttachmentInfo[] = [];
      const missing: string[] = [];
      for (const id of ids) {
        const row = byId.get(id.toLowerCase());
        if (row) found.push({ fileId: row.id, filename: row.name, contentType: row.mime_type || 'application/octet-stream', size: row.size });
        else missing.push(id);
      }
      return { found, missing };
    },
    async open(fileId) {
      const row = (await rows([fileId])).get(fileId.toLowerCase());
      if (!row) throw new Error(`file ${fileId} is no longer attachable`);
      return openObject(row);
    },
  };
}
