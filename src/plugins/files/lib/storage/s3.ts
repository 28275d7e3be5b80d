/**
 * The S3 API through the `minio` client: MinIO, AWS S3, R2 and other S3-compatible stores. Uploads and
 * downloads are presigned; with a POST policy the storage itself refuses a body of another size.
 *
 * Two clients: one for the server's own calls (`FILES_S3_URL`, e.g. MinIO on the stack's network) and one
 * that only signs, for the host browsers use (`FILES_S3_PUBLIC_URL`): a SigV4 signature covers the host.
 * Both know the region, so signing never makes a network call.
 */
import * as Minio from 'minio';
import type { Readable } from 'node:stream';
import {
  StorageError,
  type CompletedPart,
  type DownloadRequest,
  type ObjectStat,
  type StorageDriver,
  type UploadRequest,
  type UploadTarget,
} from './driver.js';
import { contentDisposition } from './driver.js';

export interface S3StorageOptions {
  url: string;
  publicUrl?: string | undefined;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  pathStyle: boolean;
}

function clientFor(url: string, o: S3StorageOptions): Minio.Client {
  const u = new URL(url);
  const useSSL = u.protocol === 'https:';
  return new Minio.Client({
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: o.accessKey,
    secretKey: o.secretKey,
    region: o.region,
    pathStyle: o.pathStyle,
  });
}

const MISSING = new Set(['NotFound', 'NoSuchKey', 'NoSuchUpload']);

function isMissing(e: unknown): boolean {
  return MISSING.has((e as { code?: string }).code ?? '');
}

export class S3Storage implements StorageDriver {
  readonly kind = 's3' as const;
  readonly client: Minio.Client;
  readonly signer: Minio.Client;
  readonly bucket: string;

  constructor(readonly options: S3StorageOptions) {
    this.client = clientFor(options.url, options);
    this.signer = options.publicUrl ? clientFor(options.publicUrl, options) : this.client;
    this.bucket = options.bucket;
  }

  /** Checks the bucket is reachable (and creates it when asked): a wrong endpoint or key fails the boot. */
  async init(create: boolean): Promise<void> {
    const exists = await this.client.bucketExists(this.bucket);
    if (exists) return;
    if (!create) throw new StorageError(`S3 bucket ${this.bucket} does not exist (set FILES_S3_CREATE_BUCKET=true to create it)`);
    await this.client.makeBucket(this.bucket, this.options.region);
  }

  async createUpload(req: UploadRequest): Promise<UploadTarget> {
    const expiresAt = new Date(Date.now() + req.expiresInSeconds * 1000);
    if (req.method === 'PUT') {
      const url = await this.signer.presignedUrl('PUT', this.bucket, req.key, req.expiresInSeconds);
      return { method: 'PUT', url, headers: { 'Content-Type': req.contentType }, fields: {}, expiresAt, sizeEnforced: false };
    }
    const policy = this.signer.newPostPolicy();
    policy.setBucket(this.bucket);
    policy.setKey(req.key);
    policy.setContentType(req.contentType);
    // The storage refuses any body but exactly the declared size.
    policy.setContentLengthRange(req.size, req.size);
    policy.setExpires(expiresAt);
    const { postURL, formData } = await this.signer.presignedPostPolicy(policy);
    return { method: 'POST', url: postURL, headers: {}, fields: formData, expiresAt, sizeEnforced: true };
  }

  async createMultipart(key: string, contentType: string): Promise<string> {
    return this.client.initiateNewMultipartUpload(this.bucket, key, { 'Content-Type': contentType });
  }

  async signPart(key: string, uploadId: string, partNumber: number, _maxSize: number, expiresInSeconds: number): Promise<string> {
    return this.signer.presignedUrl('PUT', this.bucket, key, expiresInSeconds, { partNumber: String(partNumber), uploadId });
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    try {
      await this.client.completeMultipartUpload(
        this.bucket,
        key,
        uploadId,
        parts.map((p) => ({ part: p.partNumber, etag: p.etag })),
      );
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'InvalidPart' || code === 'InvalidPartOrder' || code === 'EntityTooSmall' || code === 'NoSuchUpload') {
        throw new StorageError(`${code}: ${(e as Error).message}`);
      }
      throw e;
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.abortMultipartUpload(this.bucket, key, uploadId);
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  async stat(key: string): Promise<ObjectStat | null> {
    try {
      const s = await this.client.statObject(this.bucket, key);
      const meta = s.metaData as Record<string, string | undefined>;
      return { size: s.size, etag: s.etag, contentType: meta['content-type'] };
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  /**
   * One ranged GET instead of a HEAD and a GET: its Content-Range carries the size, and the ETag and type
   * come along. Made through a short presigned URL of the server's own client (minio's ranged read hides
   * the response headers).
   */
  async peek(key: string, n: number): Promise<{ stat: ObjectStat; head: Buffer } | null> {
    const url = await this.client.presignedUrl('GET', this.bucket, key, 60);
    const res = await fetch(url, { headers: { range: `bytes=0-${Math.max(0, n - 1)}` } });
    if (res.status === 404) {
      await res.arrayBuffer();
      return null;
    }
    // An empty object has no byte 0: ask for its stat instead.
    if (res.status === 416) {
      await res.arrayBuffer();
      const st = await this.stat(key);
      return st && { stat: st, head: Buffer.alloc(0) };
    }
    if (res.status !== 206 && res.status !== 200) throw new StorageError(`GET ${key}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    const head = Buffer.from(await res.arrayBuffer()).subarray(0, n);
    const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
    const size = res.status === 200 ? Number(res.headers.get('content-length')) : Number(total);
    if (!Number.isFinite(size)) throw new StorageError(`GET ${key}: no object size in the response`);
    const etag = (res.headers.get('etag') ?? '').replace(/"/g, '');
    return { stat: { size, etag, contentType: res.headers.get('content-type') ?? undefined }, head };
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      if (range) return await this.client.getPartialObject(this.bucket, key, range.start, range.end - range.start + 1);
      return await this.client.getObject(this.bucket, key);
    } catch (e) {
      if (isMissing(e)) throw new StorageError(`NoSuchKey: ${key}`);
      throw e;
    }
  }

  async write(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.client.putObject(this.bucket, key, body, body.length, { 'Content-Type': contentType });
  }

  async move(from: string, to: string): Promise<void> {
    try {
      await this.client.copyObject(
        new Minio.CopySourceOptions({ Bucket: this.bucket, Object: from }),
        new Minio.CopyDestinationOptions({ Bucket: this.bucket, Object: to }),
      );
    } catch (e) {
      // Already moved by an earlier attempt.
      if (isMissing(e)) return;
      throw e;
    }
    await this.client.removeObject(this.bucket, from);
  }

  async promote(from: string, to: string, expected: { etag: string; size: number }): Promise<'moved' | 'changed' | 'missing'> {
    const { etag, size } = expected;
    try {
      // x-amz-copy-source-if-match: the storage copies only the bytes that were checked.
      const source = new Minio.CopySourceOptions({ Bucket: this.bucket, Object: from, MatchETag: `"${etag.replace(/"/g, '')}"` });
      const dest = new Minio.CopyDestinationOptions({ Bucket: this.bucket, Object: to });
      // One CopyObject takes at most 5 GiB; larger objects are copied part by part (UploadPartCopy).
      if (size > 5 * 1024 ** 3) await this.client.composeObject(dest, [source]);
      else await this.client.copyObject(source, dest);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'PreconditionFailed') return 'changed';
      if (isMissing(e)) return (await this.stat(to)) ? 'moved' : 'missing';
      throw e;
    }
    await this.client.removeObject(this.bucket, from);
    return 'moved';
  }

  async remove(keys: readonly string[]): Promise<void> {
    // One DELETE per key: few keys per file, and not every S3-compatible store has multi-object delete.
    await Promise.all(
      keys.map(async (k) => {
        try {
          await this.client.removeObject(this.bucket, k);
        } catch (e) {
          if (!isMissing(e)) throw e;
        }
      }),
    );
  }

  async removePrefix(prefix: string): Promise<void> {
    if (!prefix.endsWith('/') || prefix.length < 2) throw new StorageError(`invalid prefix ${JSON.stringify(prefix)}`);
    const names: string[] = [];
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<{ name?: string }>) {
      if (item.name) names.push(item.name);
    }
    await this.remove(names);
  }

  async downloadUrl(req: DownloadRequest): Promise<string> {
    return this.signer.presignedGetObject(this.bucket, req.key, req.expiresInSeconds, {
      'response-content-type': req.contentType,
      'response-content-disposition': contentDisposition(req.disposition, req.filename),
      ...(req.cacheControl ? { 'response-cache-control': req.cacheControl } : {}),
    });
  }
}
