/**
 * Files: uploads straight to storage through the files plugin's presigned URLs (src/plugins/files/README.md).
 * Small files go in one request (PUT or S3's POST policy) with progress; large ones as multipart uploads whose
 * parts are sent a few at a time, each retried with backoff, resumable from a checkpoint. A cancelled upload is
 * aborted on the server too, so its reserved quota is released. Rules the server will apply (bucket MIME list
 * and sizes, `accept`/`maxSize` of the picker, names) are checked before a byte moves.
 */
import type { NselfClient } from './core.js';
import { backoffDelay, sleep } from './backoff.js';
import { NselfError, abortError } from './errors.js';
import { checkFile, type FileCheckRules } from './file-rules.js';
import { browser } from './browser.js';
import {
  FilesAbortUploadDocument,
  FilesBucketRulesDocument,
  FilesCompleteUploadDocument,
  FilesCreateMultipartUploadDocument,
  FilesCreateUploadDocument,
  FilesDeleteDocument,
  FilesDownloadUrlDocument,
  FilesSignUploadPartsDocument,
  FilesStatusDocument,
  FilesUsageDocument,
  type FilesBucketRulesQuery,
  type FilesCompleteUploadMutation,
  type FilesDisposition,
  type FilesStatusSubscription,
} from './generated/operations.js';

export type UploadedFile = FilesCompleteUploadMutation['filesCompleteUpload'];
export type FileStatus = NonNullable<FilesStatusSubscription['files_file_by_pk']>;
type BucketRow = NonNullable<FilesBucketRulesQuery['files_bucket_by_pk']>;
export type BucketRules = Omit<BucketRow, 'allowed_mime_types'> & { allowed_mime_types: string[] };

/** A `text[]` column: Hasura sends PostgreSQL's array literal (`{image/*,application/pdf}`); some setups send JSON. */
export function textArray(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string' || !v.startsWith('{') || !v.endsWith('}')) return [];
  const out: string[] = [];
  const body = v.slice(1, -1);
  let cur = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (quoted) {
      if (ch === '\\') cur += body[++i] ?? '';
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      any = true;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any || out.length) out.push(cur);
  return out;
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** What a resumed multipart upload needs: store it (localStorage, IndexedDB) and pass it back as `resume`. */
export interface MultipartCheckpoint {
  id: string;
  partSize: number;
  partCount: number;
  parts: { partNumber: number; etag: string }[];
}

export interface SendRequest {
  method: 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: Blob | FormData;
  onProgress?: (loaded: number) => void;
  signal?: AbortSignal;
}

/** Sends bytes to storage and answers the status and ETag. The default uses XMLHttpRequest (upload progress) where there is one, else fetch. */
export type Transport = (r: SendRequest) => Promise<{ status: number; etag: string | null; body: string }>;

export interface UploadOptions extends Omit<FileCheckRules, 'bucket'> {
  bucket?: string;
  name?: string;
  mimeType?: string;
  metadata?: unknown;
  signal?: AbortSignal;
  onProgress?: (p: UploadProgress) => void;
  /** Multipart from this size on (default 64 MiB), or always/never. */
  multipart?: boolean;
  partSize?: number;
  resume?: MultipartCheckpoint;
  onCheckpoint?: (c: MultipartCheckpoint) => void;
}

export interface FilesOptions {
  bucket?: string;
  multipartThreshold?: number;
  /** Parts in flight at once (default 3). */
  concurrency?: number;
  /** Attempts per part (default 4). */
  partAttempts?: number;
  retryBaseMs?: number;
  transport?: Transport;
}

export const xhrTransport: Transport = (r) =>
  new Promise((resolve, reject) => {
    const Xhr = browser().XMLHttpRequest;
    if (!Xhr) return reject(new NselfError('XMLHttpRequest is not available here', 'network'));
    const xhr = new Xhr();
    xhr.open(r.method, r.url);
    for (const [k, v] of Object.entries(r.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => r.onProgress?.(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, etag: xhr.getResponseHeader('etag'), body: xhr.responseText });
    xhr.onerror = () => reject(new NselfError(`upload to storage failed (network)`, 'network'));
    xhr.onabort = () => reject(abortError());
    if (r.signal?.aborted) return reject(abortError());
    r.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(r.body);
  });

export const fetchTransport: Transport = async (r) => {
  try {
    const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body, ...(r.signal ? { signal: r.signal } : {}) });
    const body = await res.text();
    if (res.ok) r.onProgress?.(r.body instanceof Blob ? r.body.size : 0);
    return { status: res.status, etag: res.headers.get('etag'), body };
  } catch (e) {
    if (r.signal?.aborted) throw abortError();
    throw new NselfError(`upload to storage failed: ${(e as Error).message}`, 'network');
  }
};

const defaultTransport: Transport = (r) => (browser().XMLHttpRequest ? xhrTransport(r) : fetchTransport(r));

export function createFiles(client: NselfClient, o: FilesOptions = {}) {
  const transport = o.transport ?? defaultTransport;
  const rulesCache = new Map<string, Promise<BucketRules | null>>();
  const bucketRules = (bucket: string) => {
    let p = rulesCache.get(bucket);
    if (!p) {
      p = client.request(FilesBucketRulesDocument, { bucket }).then((d) => (d.files_bucket_by_pk ? { ...d.files_bucket_by_pk, allowed_mime_types: textArray(d.files_bucket_by_pk.allowed_mime_types) } : null));
      p.catch(() => rulesCache.delete(bucket));
      rulesCache.set(bucket, p);
    }
    return p;
  };

  async function sendPart(file: Blob, part: { partNumber: number; url: string; method: string }, partSize: number, signal: AbortSignal | undefined, onLoaded: (n: number) => void): Promise<string> {
    const attempts = o.partAttempts ?? 4;
    const body = file.slice((part.partNumber - 1) * partSize, part.partNumber * partSize);
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw abortError();
      try {
        const r = await transport({ method: 'PUT', url: part.url, headers: {}, body, onProgress: onLoaded, ...(signal ? { signal } : {}) });
        if (r.status >= 200 && r.status < 300 && r.etag) return r.etag;
        // 4xx other than a timeout or throttling will not change on a retry (a refused signature, a wrong size).
        if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) throw new NselfError(`storage refused part ${part.partNumber}: ${r.status} ${r.body.slice(0, 200)}`, 'files/upload-failed', { status: r.status });
        throw new NselfError(`storage answered ${r.status} for part ${part.partNumber}`, 'network', { status: r.status });
      } catch (e) {
        onLoaded(0);
        if (e instanceof NselfError && (e.code === 'aborted' || e.code === 'files/upload-failed')) throw e;
        if (attempt + 1 >= attempts) throw e;
        await sleep(backoffDelay(attempt, { baseMs: o.retryBaseMs ?? 500, maxMs: 10_000 }), signal).catch(() => {
          throw abortError();
        });
      }
    }
  }

  async function multipart(file: Blob, meta: { bucket: string; name: string; mimeType: string; metadata: unknown }, u: UploadOptions, report: (loaded: number) => void): Promise<UploadedFile> {
    const cp: MultipartCheckpoint =
      u.resume ??
      (await (async () => {
        const m = (await client.request(FilesCreateMultipartUploadDocument, { ...meta, size: file.size, partSize: u.partSize ?? null })).filesCreateMultipartUpload;
        return { id: m.id, partSize: Number(m.partSize), partCount: m.partCount, parts: [] };
      })());
    const done = new Map(cp.parts.map((p) => [p.partNumber, p.etag]));
    const loaded = new Map<number, number>();
    for (const n of done.keys()) loaded.set(n, Math.min(cp.partSize, file.size - (n - 1) * cp.partSize));
    const sum = () => [...loaded.values()].reduce((a, b) => a + b, 0);
    report(sum());
    const todo = Array.from({ length: cp.partCount }, (_, i) => i + 1).filter((n) => !done.has(n));
    try {
      const worker = async () => {
        for (let n = todo.shift(); n !== undefined; n = todo.shift()) {
          // URLs are signed per part when it is sent, so a long upload never holds an expired one.
          const [part] = (await client.request(FilesSignUploadPartsDocument, { id: cp.id, partNumbers: [n] }, u.signal ? { signal: u.signal } : {})).filesSignUploadParts;
          const etag = await sendPart(file, part!, cp.partSize, u.signal, (b) => {
            loaded.set(n, b);
            report(sum());
          });
          done.set(n, etag);
          loaded.set(n, Math.min(cp.partSize, file.size - (n - 1) * cp.partSize));
          report(sum());
          u.onCheckpoint?.({ ...cp, parts: [...done].map(([partNumber, e]) => ({ partNumber, etag: e })).sort((a, b) => a.partNumber - b.partNumber) });
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 3, todo.length || 1) }, worker));
    } catch (e) {
      if (e instanceof NselfError && e.code === 'aborted') await client.request(FilesAbortUploadDocument, { id: cp.id }).catch(() => undefined);
      throw e;
    }
    const parts = [...done].map(([partNumber, etag]) => ({ partNumber, etag })).sort((a, b) => a.partNumber - b.partNumber);
    return (await client.request(FilesCompleteUploadDocument, { id: cp.id, parts })).filesCompleteUpload;
  }

  async function single(file: Blob, meta: { bucket: string; name: string; mimeType: string; metadata: unknown }, u: UploadOptions, report: (loaded: number) => void): Promise<UploadedFile> {
    const up = (await client.request(FilesCreateUploadDocument, { ...meta, size: file.size }, u.signal ? { signal: u.signal } : {})).filesCreateUpload;
    try {
      let body: Blob | FormData = file;
      let headers = (up.headers ?? {}) as Record<string, string>;
      if (up.method === 'POST') {
        const form = new FormData();
        for (const [k, v] of Object.entries((up.fields ?? {}) as Record<string, string>)) form.append(k, v);
        form.append('file', file, meta.name);
        body = form;
        headers = {};
      }
      const r = await transport({ method: up.method, url: up.url, headers, body, onProgress: report, ...(u.signal ? { signal: u.signal } : {}) });
      if (r.status < 200 || r.status >= 300) throw new NselfError(`storage refused the upload: ${r.status} ${r.body.slice(0, 200)}`, 'files/upload-failed', { status: r.status });
    } catch (e) {
      // Releases the reserved quota and deletes whatever arrived.
      await client.request(FilesAbortUploadDocument, { id: up.id }).catch(() => undefined);
      throw e;
    }
    report(file.size);
    return (await client.request(FilesCompleteUploadDocument, { id: up.id })).filesCompleteUpload;
  }

  return {
    /** Checks the file, sends it and completes the upload; the answer's `status` is `uploaded` (see `waitUntilReady`). */
    async upload(file: Blob & { name?: string }, u: UploadOptions = {}): Promise<UploadedFile> {
      const bucket = u.bucket ?? o.bucket ?? 'default';
      const meta = { bucket, name: u.name ?? file.name ?? 'file', mimeType: u.mimeType ?? (file.type || 'application/octet-stream'), metadata: u.metadata ?? null };
      if (u.signal?.aborted) throw abortError();
      const rules = await bucketRules(bucket).catch(() => null);
      const problem = checkFile({ name: meta.name, size: file.size, type: meta.mimeType }, { ...u, bucket: rules });
      if (problem) throw new NselfError(problem.message, problem.code);
      const report = (loaded: number) => u.onProgress?.({ loaded: Math.min(loaded, file.size), total: file.size });
      const big = u.resume !== undefined || (u.multipart ?? file.size >= (o.multipartThreshold ?? 64 * 1024 * 1024));
      return big ? multipart(file, meta, u, report) : single(file, meta, u, report);
    },
    /** Resolves when processing ends: `ready`, or throws for `failed` / `quarantined`. `onStatus` sees every step. */
    async waitUntilReady(id: string, w: { signal?: AbortSignal; onStatus?: (s: FileStatus) => void } = {}): Promise<FileStatus> {
      const d = await client.waitFor(FilesStatusDocument, { id }, (d) => {
        const f = d.files_file_by_pk;
        if (f) w.onStatus?.(f);
        return !!f && ['ready', 'failed', 'quarantined'].includes(f.status);
      }, w.signal ? { signal: w.signal } : {});
      const f = d.files_file_by_pk!;
      if (f.status !== 'ready') throw new NselfError(f.failure_reason ?? `the file is ${f.status}`, `files/${f.status}`);
      return f;
    },
    onStatus: (id: string, listener: (s: FileStatus | null) => void, onError?: (e: NselfError) => void) =>
      client.subscribe(FilesStatusDocument, { id }, { next: (d) => listener(d.files_file_by_pk ?? null), ...(onError ? { error: onError } : {}) }),
    downloadUrl: async (id: string, opts: { variant?: string; disposition?: FilesDisposition; expiresIn?: number } = {}) =>
      (await client.request(FilesDownloadUrlDocument, { id, variant: opts.variant ?? null, disposition: opts.disposition ?? null, expiresIn: opts.expiresIn ?? null })).filesGetDownloadUrl,
    delete: async (id: string) => (await client.request(FilesDeleteDocument, { id })).filesDelete,
    usage: async (bucket?: string) => (await client.request(FilesUsageDocument, { bucket: bucket ?? null })).filesUsage,
    bucketRules,
  };
}

export type Files = ReturnType<typeof createFiles>;
