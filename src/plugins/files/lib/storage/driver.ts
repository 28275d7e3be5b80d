/**
 * One interface over where the bytes live. Clients upload and download straight to and from the driver's
 * URLs; the server only signs them, reads objects back to inspect them (stat, sniff, scan, variants) and
 * writes the variants it makes.
 */
import type { Readable } from 'node:stream';

/** How a browser sends the bytes of a single-request upload. */
export interface UploadTarget {
  method: 'PUT' | 'POST';
  url: string;
  /** Headers the PUT must carry (Content-Type). */
  headers: Record<string, string>;
  /** Form fields a POST must carry before the `file` field. */
  fields: Record<string, string>;
  expiresAt: Date;
  /** True when the storage itself refuses a body of another size (S3 POST policy, the local driver). */
  sizeEnforced: boolean;
}

export interface UploadRequest {
  key: string;
  contentType: string;
  size: number;
  expiresInSeconds: number;
  /** Prefer a POST policy (the storage enforces the size) where the driver has one. */
  method?: 'PUT' | 'POST';
}

export interface ObjectStat {
  size: number;
  etag: string;
  contentType: string | undefined;
  /** When the driver learned it while storing the bytes (the local driver does). */
  sha256?: string;
}

export interface DownloadRequest {
  key: string;
  expiresInSeconds: number;
  contentType: string;
  disposition: 'inline' | 'attachment';
  /** File name for Content-Disposition (any Unicode; encoded by the driver). */
  filename: string;
  cacheControl?: string;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface StorageDriver {
  readonly kind: 'local' | 's3';
  createUpload(req: UploadRequest): Promise<UploadTarget>;
  /** Starts a multipart upload; returns its upload id. */
  createMultipart(key: string, contentType: string): Promise<string>;
  /** A URL the client PUTs one part to (at most `maxSize` bytes where the driver can enforce it). */
  signPart(key: string, uploadId: string, partNumber: number, maxSize: number, expiresInSeconds: number): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void>;
  /** Idempotent: an upload already gone is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** `null` when there is no such object. */
  stat(key: string): Promise<ObjectStat | null>;
  /** The stat and the first `n` bytes in one request (for sniffing the type); `null` when there is no such object. */
  peek(key: string, n: number): Promise<{ stat: ObjectStat; head: Buffer } | null>;
  /** The object's bytes, or those of an inclusive byte range. */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  write(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Moves an object to another key (quarantine); idempotent when the source is already gone. */
  move(from: string, to: string): Promise<void>;
  /**
   * Moves the staged upload to its final key only if it still is what was checked at completion (its ETag;
   * the local driver, which knows it, compares the sha256 of the bytes it moves): `changed` when it was
   * replaced since, `missing` when neither exists; a repeated call after a move answers `moved`.
   */
  promote(from: string, to: string, expected: { etag: string; size: number; sha256: string | null }): Promise<'moved' | 'changed' | 'missing'>;
  /** Idempotent: missing keys are not an error. */
  remove(keys: readonly string[]): Promise<void>;
  /** Removes every object under a prefix ending in `/` (a file's variants, even half-written ones). */
  removePrefix(prefix: string): Promise<void>;
  downloadUrl(req: DownloadRequest): Promise<string>;
  close?(): Promise<void>;
}

/**
 * The key layout: every object of a file lives under keys derived from its bucket and id. Clients upload to
 * a staging key (`uploads/…`) that their URL grants; only the server moves the checked bytes to the key
 * downloads are signed for, so a client re-using its upload URL after completion cannot swap them.
 */
export const keys = {
  original: (bucket: string, fileId: string) => `${bucket}/${fileId}`,
  staging: (objectKey: string) => `uploads/${objectKey}`,
  variant: (bucket: string, fileId: string, name: string) => `variants/${bucket}/${fileId}/${name}`,
  variantPrefix: (bucket: string, fileId: string) => `variants/${bucket}/${fileId}/`,
  /** Infected originals: never signed for download, removed with the file. */
  quarantine: (bucket: string, fileId: string) => `quarantine/${bucket}/${fileId}`,
};

/** RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 8187). */
export function contentDisposition(disposition: 'inline' | 'attachment', filename: string): string {
  const ascii = filename.normalize('NFKD').replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '_').trim() || 'file';
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

export class StorageError extends Error {
  override name = 'StorageError';
}
