/**
 * The embedded default: objects in a folder, uploaded and downloaded through our own `/hooks/files/o/…`
 * routes with HMAC-signed expiring URLs (see `signing.ts` and `local-routes.ts`).
 *
 * Layout under the root: `objects/<key>` with `objects/<key>.meta` (size, ETag, type, sha256) beside it,
 * `tmp/` for bodies being received (renamed into place only once complete, so a reader never sees half a
 * file), `multipart/<uploadId>/<n>` for parts. Every write streams: no object is ever held in memory whole.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  StorageError,
  type CompletedPart,
  type DownloadRequest,
  type ObjectStat,
  type StorageDriver,
  type UploadRequest,
  type UploadTarget,
} from './driver.js';
import { signedUrl } from './signing.js';

export interface LocalMeta {
  size: number;
  etag: string;
  contentType: string;
  sha256: string;
}

/** Object keys we generate: lower-case, digits, `/._-`, no empty or dot segments. */
const KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

export function validKey(key: string): boolean {
  return key.length <= 512 && KEY.test(key) && !key.split('/').some((s) => s === '.' || s === '..');
}

const UPLOAD_ID = /^[0-9a-f-]{36}$/;

export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
  }
}

/** Counts, hashes and caps a stream on its way to disk. */
class Meter extends Transform {
  readonly sha256 = createHash('sha256');
  readonly md5 = createHash('md5');
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return cb(new BodyTooLarge(this.limit));
    this.sha256.update(chunk);
    this.md5.update(chunk);
    cb(null, chunk);
  }
}

export interface LocalStorageOptions {
  root: string;
  /** `<PUBLIC_URL>/hooks/files`: where browsers reach the routes. */
  baseUrl: string;
  signingKey: Buffer;
}

export class LocalStorage implements StorageDriver {
  readonly kind = 'local' as const;
  readonly root: string;
  readonly baseUrl: string;
  readonly signingKey: Buffer;

  constructor(opts: LocalStorageOptions) {
    this.root = opts.root;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.signingKey = opts.signingKey;
  }

  async init(): Promise<void> {
    for (const d of ['objects', 'tmp', 'multipart']) await mkdir(join(this.root, d), { recursive: true, mode: 0o700 });
  }

  #path(key: string): string {
    if (!validKey(key)) throw new StorageError(`invalid object key ${JSON.stringify(key)}`);
    return join(this.root, 'objects', key);
  }

  #partDir(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new StorageError('invalid upload id');
    return join(this.root, 'multipart', uploadId);
  }

  #expiry(seconds: number): number {
    return Math.floor(Date.now() / 1000) + seconds;
  }

  async createUpload(req: UploadRequest): Promise<UploadTarget> {
    const exp = this.#expiry(req.expiresInSeconds);
    // The exact declared size is the limit, like a POST policy's content-length-range [size, size].
    const url = signedUrl(this.baseUrl, this.signingKey, { op: 'put', key: req.key, exp, extra: { max: String(req.size), ct: req.contentType } });
    return { method: 'PUT', url, headers: { 'Content-Type': req.contentType }, fields: {}, expiresAt: new Date(exp * 1000), sizeEnforced: true };
  }

  async createMultipart(key: string, contentType: string): Promise<string> {
    this.#path(key);
    const uploadId = randomUUID();
    const dir = this.#partDir(uploadId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'upload.json'), JSON.stringify({ key, contentType }));
    return uploadId;
  }

  async signPart(key: string, uploadId: string, partNumber: number, maxSize: number, expiresInSeconds: number): Promise<string> {
    const exp = this.#expiry(expiresInSeconds);
    return signedUrl(this.baseUrl, this.signingKey, {
      op: 'part',
      key,
      exp,
      extra: { upload: uploadId, part: String(partNumber), max: String(maxSize) },
    });
  }

  /** Receives one body (an upload or a part) into `tmp/`, capped at `limit` bytes. */
  async receive(body: Readable, limit: number): Promise<{ tmp: string; meta: Omit<LocalMeta, 'contentType'> }> {
    const tmp = join(this.root, 'tmp', randomUUID());
    const meter = new Meter(limit);
    try {
      await pipeline(body, meter, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { tmp, meta: { size: meter.bytes, etag: meter.md5.digest('hex'), sha256: meter.sha256.digest('hex') } };
  }

  /** Moves a received body into place as `key` (data first, then its metadata, which makes it visible). */
  async commit(tmp: string, key: string, meta: LocalMeta): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const metaTmp = `${tmp}.meta`;
    await writeFile(metaTmp, JSON.stringify(meta), { mode: 0o600 });
    await rename(tmp, path);
    await rename(metaTmp, `${path}.meta`);
  }

  async storePart(uploadId: string, partNumber: number, body: Readable, limit: number): Promise<string> {
    const dir = this.#partDir(uploadId);
    const info = await readFile(join(dir, 'upload.json'), 'utf8').catch(() => null);
    if (info === null) throw new StorageError('NoSuchUpload');
    const { tmp, meta } = await this.receive(body, limit);
    await rename(tmp, join(dir, String(partNumber)));
    await writeFile(join(dir, `${partNumber}.etag`), meta.etag);
    return meta.etag;
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    const dir = this.#partDir(uploadId);
    const info = await readFile(join(dir, 'upload.json'), 'utf8').catch(() => null);
    if (info === null) throw new StorageError('NoSuchUpload');
    const { contentType } = JSON.parse(info) as { contentType: string };
    for (const p of parts) {
      const etag = await readFile(join(dir, `${p.partNumber}.etag`), 'utf8').catch(() => null);
      if (etag === null || etag !== p.etag.replace(/"/g, '')) throw new StorageError(`InvalidPart: part ${p.partNumber}`);
    }
    const tmp = join(this.root, 'tmp', randomUUID());
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    const sha = createHash('sha256');
    const md5s: Buffer[] = [];
    let size = 0;
    try {
      for (const p of parts) {
        const partPath = join(dir, String(p.partNumber));
        md5s.push(Buffer.from(p.etag.replace(/"/g, ''), 'hex'));
        for await (const chunk of createReadStream(partPath)) {
          sha.update(chunk as Buffer);
          size += (chunk as Buffer).length;
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
        }
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } catch (e) {
      out.destroy();
      await rm(tmp, { force: true });
      throw e;
    }
    // S3's multipart ETag: md5 of the parts' md5s, dash, part count.
    const etag = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}`;
    await this.commit(tmp, key, { size, etag, contentType, sha256: sha.digest('hex') });
    await rm(dir, { recursive: true, force: true });
  }

  async abortMultipart(_key: string, uploadId: string): Promise<void> {
    await rm(this.#partDir(uploadId), { recursive: true, force: true });
  }

  async meta(key: string): Promise<LocalMeta | null> {
    try {
      return JSON.parse(await readFile(`${this.#path(key)}.meta`, 'utf8')) as LocalMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async stat(key: string): Promise<ObjectStat | null> {
    const m = await this.meta(key);
    if (!m) return null;
    return { size: m.size, etag: m.etag, contentType: m.contentType, sha256: m.sha256 };
  }

  async peek(key: string, n: number): Promise<{ stat: ObjectStat; head: Buffer } | null> {
    const st = await this.stat(key);
    if (!st) return null;
    if (st.size === 0 || n <= 0) return { stat: st, head: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    for await (const c of await this.read(key, { start: 0, end: Math.min(st.size, n) - 1 })) chunks.push(c as Buffer);
    return { stat: st, head: Buffer.concat(chunks) };
  }

  /** The object's path, for the download route. */
  pathOf(key: string): string {
    return this.#path(key);
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.#path(key);
    await stat(path).catch(() => {
      throw new StorageError(`NoSuchKey: ${key}`);
    });
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async write(key: string, body: Buffer, contentType: string): Promise<void> {
    const tmp = join(this.root, 'tmp', randomUUID());
    await writeFile(tmp, body, { mode: 0o600 });
    await this.commit(tmp, key, {
      size: body.length,
      etag: createHash('md5').update(body).digest('hex'),
      contentType,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.#path(from);
    const dst = this.#path(to);
    await mkdir(dirname(dst), { recursive: true });
    try {
      await rename(`${src}.meta`, `${dst}.meta`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    try {
      await rename(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /**
   * Takes the staged bytes first (one rename: a body committed later lands beside them, not in them), then
   * checks what it took against the sha256 recorded at completion, so no write can slip in between the check
   * and the move.
   */
  async promote(from: string, to: string, expected: { etag: string; size: number; sha256: string | null }): Promise<'moved' | 'changed' | 'missing'> {
    const src = this.#path(from);
    const meta = await this.meta(from);
    const taken = join(this.root, 'tmp', randomUUID());
    try {
      await rename(src, taken);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return (await this.meta(to)) ? 'moved' : 'missing';
    }
    await rm(`${src}.meta`, { force: true });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(taken)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const sha256 = hash.digest('hex');
    if (size !== expected.size || (expected.sha256 !== null && sha256 !== expected.sha256)) {
      await rm(taken, { force: true });
      return 'changed';
    }
    await this.commit(taken, to, { size, etag: expected.etag.replace(/"/g, ''), sha256, contentType: meta?.contentType ?? 'application/octet-stream' });
    return 'moved';
  }

  async remove(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const path = this.#path(key);
      // Metadata first: an object without it is already invisible.
      await rm(`${path}.meta`, { force: true });
      await rm(path, { force: true });
      dirs.add(dirname(path));
    }
    // Variant folders (variants/<bucket>/<id>/) go with their last file.
    for (const d of dirs) {
      if (!d.startsWith(join(this.root, 'objects', 'variants'))) continue;
      const left = await readdir(d).catch(() => null);
      if (left && left.length === 0) await rmdir(d).catch(() => undefined);
    }
  }

  async removePrefix(prefix: string): Promise<void> {
    const trimmed = prefix.replace(/\/+$/, '');
    if (!prefix.endsWith('/') || !validKey(trimmed)) throw new StorageError(`invalid prefix ${JSON.stringify(prefix)}`);
    await rm(join(this.root, 'objects', trimmed), { recursive: true, force: true });
  }

  async downloadUrl(req: DownloadRequest): Promise<string> {
    const exp = this.#expiry(req.expiresInSeconds);
    return signedUrl(this.baseUrl, this.signingKey, {
      op: 'get',
      key: req.key,
      exp,
      extra: { ct: req.contentType, disp: req.disposition, fn: req.filename, ...(req.cacheControl ? { cc: req.cacheControl } : {}) },
    });
  }
}
