/** What actions answer about a file: its public fields and, when it may be downloaded, short-lived URLs. */
import type { FilesConfig } from '../config.js';
import type { StorageDriver } from './storage/driver.js';
import type { BucketRow, FileRow, Variant } from './store.js';

export interface FilesFileOutput {
  id: string;
  bucket: string;
  name: string;
  mimeType: string;
  size: number;
  status: string;
  url: string | null;
  thumbnailUrl: string | null;
  sha256: string | null;
  blurhash: string | null;
  width: number | null;
  height: number | null;
  failureReason: string | null;
}

/**
 * Whether the original may be served: once the first job has cleared it (scanned, when virus scan is on) and
 * moved the checked bytes to the key downloads are signed for — that is, while `processing` and when `ready`.
 */
export function originalDownloadable(file: Pick<FileRow, 'status' | 'scan_result'>, _features?: ReadonlySet<string>): boolean {
  return (file.status === 'processing' || file.status === 'ready') && file.scan_result !== 'infected';
}

/** The smallest preview: a WebP variant when there is one (every browser shows it). */
export function thumbnailOf(variants: readonly Variant[]): Variant | null {
  if (!variants.length) return null;
  const sorted = [...variants].sort((a, b) => a.width - b.width || (a.format === 'webp' ? -1 : 1));
  return sorted.find((v) => v.format === 'webp') ?? sorted[0]!;
}

export function downloadExpiry(bucket: Pick<BucketRow, 'url_expires_in'>, config: FilesConfig, asked?: number | null): number {
  return Math.max(1, Math.min(bucket.url_expires_in, config.FILES_DOWNLOAD_EXPIRY_SECONDS, asked ?? Infinity));
}

export async function fileOutput(
  file: FileRow,
  bucket: BucketRow,
  storage: StorageDriver,
  config: FilesConfig,
  features: ReadonlySet<string>,
): Promise<FilesFileOutput> {
  const expires = downloadExpiry(bucket, config);
  const type = file.mime_type ?? file.declared_mime_type;
  let url: string | null = null;
  let thumbnailUrl: string | null = null;
  if (originalDownloadable(file, features)) {
    url = await storage.downloadUrl({ key: file.object_key, expiresInSeconds: expires, contentType: type, disposition: 'inline', filename: file.name, cacheControl: bucket.cache_control });
    const thumb = file.status === 'ready' ? thumbnailOf(file.variants) : null;
    if (thumb) {
      thumbnailUrl = await storage.downloadUrl({
        key: thumb.key,
        expiresInSeconds: expires,
        contentType: `image/${thumb.format}`,
        disposition: 'inline',
        filename: `${file.name}.${thumb.name}`,
        cacheControl: bucket.cache_control,
      });
    }
  }
  return {
    id: file.id,
    bucket: file.bucket_id,
    name: file.name,
    mimeType: type,
    size: Number(file.size),
    status: file.status,
    url,
    thumbnailUrl,
    sha256: file.sha256,
    blurhash: file.blurhash,
    width: file.width,
    height: file.height,
    failureReason: file.failure_reason,
  };
}
