/**
 * The local driver's HTTP face, mounted at `/hooks/files`: `PUT /o/<key>` receives an upload or a part,
 * `GET|HEAD /o/<key>` serves a download, each only with a valid, unexpired signature (see `signing.ts`).
 * They behave like a presigned S3 URL: the size limit is enforced while the body streams in (never
 * buffered), `Range`, `ETag`/`If-None-Match` and `Content-Disposition` work as a browser expects.
 * URLs are capabilities (no cookies), so CORS is open to every origin.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Request, Response, Router } from 'express';
import { contentDisposition } from './driver.js';
import { BodyTooLarge, validKey, type LocalStorage } from './local.js';
import { verify } from './signing.js';

interface RouteError {
  status: number;
  code: string;
  message: string;
}

function fail(res: Response, e: RouteError, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (close) res.setHeader('connection', 'close');
  res.status(e.status).json({ message: e.message, extensions: { code: `files/${e.code}` } });
}

function cors(res: Response): void {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-expose-headers', 'ETag, Content-Length, Content-Range, Accept-Ranges, Content-Disposition');
}

function keyOf(req: Request): string | null {
  const raw = (req.params as { key?: string | string[] }).key;
  const key = Array.isArray(raw) ? raw.join('/') : raw;
  return key && validKey(key) ? key : null;
}

function query(req: Request): URLSearchParams {
  const i = req.originalUrl.indexOf('?');
  return new URLSearchParams(i === -1 ? '' : req.originalUrl.slice(i + 1));
}

/** Parses a single `bytes=` range against `size`: null when absent or not satisfiable-parsable, 'bad' when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: serve the whole object, as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** Whether the upload a staging key belongs to still takes bytes (pending, not deleted). */
export type PendingCheck = (stagingKey: string) => Promise<boolean>;

export function localRoutes(router: Router, storage: () => LocalStorage | undefined, pending: PendingCheck): void {
  router.options('/o/*key', (_req, res) => {
    cors(res);
    res.setHeader('access-control-allow-methods', 'GET, HEAD, PUT');
    res.setHeader('access-control-allow-headers', 'Content-Type, Range, If-None-Match');
    res.setHeader('access-control-max-age', '86400');
    res.status(204).end();
  });

  router.put('/o/*key', async (req, res) => {
    cors(res);
    const store = storage();
    const key = keyOf(req);
    if (!store || !key) return fail(res, { status: 404, code: 'not-found', message: 'no such upload URL' }, true);
    const v = verify(store.signingKey, key, query(req));
    if (!v.ok) return fail(res, v, true);
    const { op, extra } = v.params;
    if (op !== 'put' && op !== 'part') return fail(res, { status: 403, code: 'signature-mismatch', message: 'this URL does not allow uploads' }, true);
    const max = Number(extra.max);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      // Refused before a byte is read; the connection closes rather than draining the body.
      return fail(res, { status: 413, code: 'too-large', message: `this URL accepts at most ${max} bytes` }, true);
    }
    // A URL stays valid until it expires; once its upload is completed (or dropped) it takes nothing more.
    if (!(await pending(key))) return fail(res, { status: 409, code: 'not-pending', message: 'this upload is already complete' }, true);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (op === 'put' && extra.ct && type !== extra.ct.toLowerCase()) {
      return fail(res, { status: 403, code: 'signature-mismatch', message: `Content-Type must be ${extra.ct}` }, true);
    }
    try {
      if (op === 'part') {
        const etag = await store.storePart(extra.upload!, Number(extra.part), req, max);
        res.setHeader('etag', `"${etag}"`);
        res.status(200).end();
        return;
      }
      const { tmp, meta } = await store.receive(req, max);
      await store.commit(tmp, key, { ...meta, contentType: extra.ct ?? 'application/octet-stream' }).catch(async (e) => {
        await rm(tmp, { force: true });
        throw e;
      });
      res.setHeader('etag', `"${meta.etag}"`);
      res.status(200).end();
    } catch (e) {
      if (e instanceof BodyTooLarge) return fail(res, { status: 413, code: 'too-large', message: `this URL accepts at most ${max} bytes` }, true);
      if ((e as Error).message === 'NoSuchUpload') return fail(res, { status: 404, code: 'no-such-upload', message: 'the multipart upload is gone' }, true);
      // The client went away mid-body: nothing to answer.
      if ((e as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || req.destroyed) return void res.destroy();
      return fail(res, { status: 500, code: 'storage', message: 'the upload could not be stored' }, true);
    }
  });

  const download = async (req: Request, res: Response) => {
    cors(res);
    const store = storage();
    const key = keyOf(req);
    if (!store || !key) return fail(res, { status: 404, code: 'not-found', message: 'no such object' });
    const v = verify(store.signingKey, key, query(req));
    if (!v.ok) return fail(res, v);
    if (v.params.op !== 'get') return fail(res, { status: 403, code: 'signature-mismatch', message: 'this URL does not allow downloads' });
    const meta = await store.meta(key);
    if (!meta) return fail(res, { status: 404, code: 'not-found', message: 'no such object' });
    const { extra } = v.params;
    const etag = `"${meta.etag}"`;
    res.setHeader('etag', etag);
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('cache-control', extra.cc ?? 'private, max-age=300');
    res.setHeader('content-type', extra.ct ?? meta.contentType);
    res.setHeader('content-disposition', contentDisposition(extra.disp === 'attachment' ? 'attachment' : 'inline', extra.fn ?? 'file'));
    // The type is ours (sniffed), never the browser's guess.
    res.setHeader('x-content-type-options', 'nosniff');
    if (etagMatches(req.headers['if-none-match'], etag)) return void res.status(304).end();
    const range = parseRange(req.headers.range, meta.size);
    if (range === 'unsatisfiable') {
      res.setHeader('content-range', `bytes */${meta.size}`);
      return fail(res, { status: 416, code: 'range-not-satisfiable', message: 'the range is outside the object' });
    }
    if (range) {
      res.status(206);
      res.setHeader('content-range', `bytes ${range.start}-${range.end}/${meta.size}`);
      res.setHeader('content-length', String(range.end - range.start + 1));
    } else {
      res.status(200);
      res.setHeader('content-length', String(meta.size));
    }
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(store.pathOf(key), range ?? {});
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
  router.get('/o/*key', download);
}
