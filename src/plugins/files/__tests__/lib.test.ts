/** Unit tests of the pure parts: names, MIME rules, URL signatures, ranges, inputs, clamd replies, outputs. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseReply, ClamdError } from '../lib/clamd.js';
import { byteSize, createUploadInput, uuid } from '../lib/input.js';
import { canonicalMime, decideType, mediaKind, mimeAllowed, validMime } from '../lib/mime.js';
import { checkName } from '../lib/names.js';
import { originalDownloadable, thumbnailOf } from '../lib/output.js';
import { mediaStep, statusAfterClear } from '../lib/pipeline.js';
import { posterTime } from '../lib/processing/video.js';
import { contentDisposition } from '../lib/storage/driver.js';
import { BodyTooLarge, LocalStorage, validKey } from '../lib/storage/local.js';
import { parseRange } from '../lib/storage/local-routes.js';
import { signedUrl, signingKey, verify } from '../lib/storage/signing.js';
import type { Variant } from '../lib/store.js';

describe('file names', () => {
  it.each([
    ['photo.jpg', true],
    ['Résumé 2024 (final).pdf', true],
    ['日本語のファイル.txt', true],
    ['../x', false],
    ['a/b', false],
    ['a\\b', false],
    ['..', false],
    ['a\u0000b', false],
    ['a\u202Egnp.exe', false],
    ['a\u2066b', false],
    ['line\nbreak', false],
    ['\u0085next', false],
    [' padded', false],
    ['x'.repeat(256), false],
    ['x'.repeat(255), true],
    ['', false],
  ])('%j → %s', (name, ok) => {
    expect(checkName(name, 255).ok).toBe(ok);
  });

  it('normalises to NFC', () => {
    const r = checkName('e\u0301.txt', 255);
    expect(r).toEqual({ ok: true, name: '\u00e9.txt' });
  });
});

describe('MIME types', () => {
  it('syntax, aliases and bucket patterns', () => {
    expect(validMime('image/png')).toBe(true);
    expect(validMime('image/svg+xml')).toBe(true);
    expect(validMime('image')).toBe(false);
    expect(validMime('a b/c')).toBe(false);
    expect(canonicalMime('Image/JPG; q=1')).toBe('image/jpeg');
    expect(mimeAllowed('image/png', ['image/*'])).toBe(true);
    expect(mimeAllowed('video/mp4', ['image/*', 'application/pdf'])).toBe(false);
    expect(mimeAllowed('application/pdf', ['image/*', 'application/pdf'])).toBe(true);
    expect(mimeAllowed('anything/else', [])).toBe(true);
    expect(mimeAllowed('image/jpg', ['image/jpeg'])).toBe(true);
  });

  it('decides the stored type from declared and sniffed', () => {
    expect(decideType('image/png', 'image/png')).toEqual({ ok: true, mimeType: 'image/png' });
    expect(decideType('image/jpg', 'image/jpeg')).toEqual({ ok: true, mimeType: 'image/jpeg' });
    expect(decideType('image/png', 'application/x-elf')).toMatchObject({ ok: false });
    expect(decideType('image/png', undefined)).toMatchObject({ ok: false });
    expect(decideType('text/plain', undefined)).toEqual({ ok: true, mimeType: 'text/plain' });
    expect(decideType('text/csv', 'application/x-elf')).toMatchObject({ ok: false });
    expect(decideType('application/octet-stream', 'application/zip')).toEqual({ ok: true, mimeType: 'application/zip' });
    const docx = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
    expect(decideType(docx, 'application/zip')).toEqual({ ok: true, mimeType: docx });
  });

  it('media kinds and the steps the features give them', () => {
    expect(mediaKind('image/webp')).toBe('image');
    expect(mediaKind('image/heic')).toBeNull();
    expect(mediaKind('video/quicktime')).toBe('video');
    expect(mediaKind('application/pdf')).toBe('document');
    expect(mediaStep('video/mp4', new Set(['thumbnails']))).toBeNull();
    expect(mediaStep('video/mp4', new Set(['video']))).toBe('video');
    expect(statusAfterClear({ mime_type: 'text/plain' }, new Set(['thumbnails']))).toBe('ready');
    expect(statusAfterClear({ mime_type: 'image/png' }, new Set(['thumbnails']))).toBe('processing');
  });
});

describe('local URL signatures', () => {
  const key = signingKey(undefined, 'webhook-secret-0123456789');
  const base = 'http://h/hooks/files';
  const url = (exp = Math.floor(Date.now() / 1000) + 60) => new URL(signedUrl(base, key, { op: 'put', key: 'default/abc', exp, extra: { max: '10', ct: 'image/png' } }));
  const check = (u: URL, objectKey = 'default/abc', now?: number) => verify(key, objectKey, u.searchParams, now);

  it('accepts its own URL and refuses every change', () => {
    expect(check(url())).toMatchObject({ ok: true, params: { op: 'put', extra: { max: '10', ct: 'image/png' } } });
    for (const [k, v] of [['max', '11'], ['ct', 'text/html'], ['op', 'get'], ['exp', '99999999999'], ['sig', 'x']]) {
      const u = url();
      u.searchParams.set(k!, v!);
      expect(check(u)).toMatchObject({ ok: false, code: 'signature-mismatch' });
    }
    const extra = url();
    extra.searchParams.set('fn', 'evil.html');
    expect(check(extra)).toMatchObject({ ok: false, code: 'signature-mismatch' });
    expect(check(url(), 'default/other')).toMatchObject({ ok: false, code: 'signature-mismatch' });
    const dup = url();
    dup.searchParams.append('max', '10');
    expect(check(dup)).toMatchObject({ ok: false });
    const unsigned = url();
    unsigned.searchParams.delete('sig');
    expect(check(unsigned)).toMatchObject({ ok: false, code: 'missing-signature' });
  });

  it('expires', () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(check(url(exp), 'default/abc', (exp + 1) * 1000)).toMatchObject({ ok: false, code: 'expired' });
    expect(check(url(exp), 'default/abc', exp * 1000)).toMatchObject({ ok: true });
  });

  it('another key (another installation) does not verify', () => {
    const other = signingKey(undefined, 'another-secret-0123456789');
    expect(verify(other, 'default/abc', url().searchParams)).toMatchObject({ ok: false });
    expect(signingKey('configured-secret-configured-secret!', 'x').toString()).toBe('configured-secret-configured-secret!');
  });

  it('object keys we accept', () => {
    expect(validKey('default/0b0c-1')).toBe(true);
    expect(validKey('variants/default/x/320.webp')).toBe(true);
    expect(validKey('../etc/passwd')).toBe(false);
    expect(validKey('a/../b')).toBe(false);
    expect(validKey('a//b')).toBe(false);
    expect(validKey('/abs')).toBe(false);
    expect(validKey('A/b')).toBe(false);
  });
});

describe('HTTP details', () => {
  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=9-1', 100)).toBeNull();
  });

  it('Content-Disposition carries an ASCII fallback and the UTF-8 name', () => {
    expect(contentDisposition('inline', 'a.png')).toBe(`inline; filename="a.png"; filename*=UTF-8''a.png`);
    expect(contentDisposition('attachment', 'résumé "x".pdf')).toBe(`attachment; filename="resume _x_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf`);
    expect(contentDisposition('attachment', '日本')).toBe(`attachment; filename="file"; filename*=UTF-8''%E6%97%A5%E6%9C%AC`);
  });
});

describe('inputs Hasura forwards as sent', () => {
  it('uuids and byte sizes', () => {
    expect(uuid.parse('0B0C0D0E-0000-4000-8000-000000000000')).toBe('0b0c0d0e-0000-4000-8000-000000000000');
    expect(uuid.safeParse('not-a-uuid').success).toBe(false);
    expect(uuid.safeParse(42).success).toBe(false);
    expect(byteSize.parse('1048576')).toBe(1048576);
    expect(byteSize.parse(12)).toBe(12);
    for (const bad of ['1.5', '-1', '1e9', '', 'abc', 1.5, -1, true, 6 * 1024 ** 4]) expect(byteSize.safeParse(bad).success).toBe(false);
    expect(createUploadInput.safeParse({ name: 'a', mimeType: 'a/b', size: 1, metadata: { a: 1 } }).success).toBe(true);
  });
});

describe('clamd replies', () => {
  it('parses OK, FOUND and ERROR', () => {
    expect(parseReply('stream: OK')).toEqual({ clean: true });
    expect(parseReply('stream: Eicar-Signature FOUND')).toEqual({ clean: false, signature: 'Eicar-Signature' });
    expect(() => parseReply('INSTREAM size limit exceeded. ERROR')).toThrow(ClamdError);
    expect(() => parseReply('gibberish')).toThrow(ClamdError);
  });
});

describe('outputs', () => {
  const v = (name: string, format: string, width: number): Variant => ({ name, kind: 'image', format, width, height: width, size: 1, key: name });
  it('picks the smallest WebP as the thumbnail', () => {
    expect(thumbnailOf([])).toBeNull();
    expect(thumbnailOf([v('320.avif', 'avif', 320), v('64.avif', 'avif', 64), v('64.webp', 'webp', 64)])!.name).toBe('64.webp');
    expect(thumbnailOf([v('64.avif', 'avif', 64)])!.name).toBe('64.avif');
  });

  it('serves an original only once the first job cleared it and moved it into place', () => {
    expect(originalDownloadable({ status: 'ready', scan_result: 'clean' })).toBe(true);
    expect(originalDownloadable({ status: 'processing', scan_result: 'clean' })).toBe(true);
    expect(originalDownloadable({ status: 'processing', scan_result: null })).toBe(true);
    expect(originalDownloadable({ status: 'uploaded', scan_result: null })).toBe(false);
    expect(originalDownloadable({ status: 'quarantined', scan_result: 'infected' })).toBe(false);
    expect(originalDownloadable({ status: 'pending', scan_result: null })).toBe(false);
    expect(originalDownloadable({ status: 'failed', scan_result: null })).toBe(false);
  });

  it('takes the poster one second in, or mid-clip', () => {
    expect(posterTime(10)).toBe(1);
    expect(posterTime(1)).toBe(0.5);
    expect(posterTime(null)).toBe(0);
  });
});

describe('the local driver streams and caps', () => {
  it('stops a body at its limit and leaves nothing behind', async () => {
    const root = mkdtempSync(join(tmpdir(), 'files-local-'));
    try {
      const s = new LocalStorage({ root, baseUrl: 'http://h', signingKey: Buffer.from('k') });
      await s.init();
      const big = Readable.from((function* () {
        for (let i = 0; i < 100; i++) yield Buffer.alloc(1024);
      })());
      await expect(s.receive(big, 10 * 1024)).rejects.toBeInstanceOf(BodyTooLarge);
      expect(readdirSync(join(root, 'tmp'))).toEqual([]);
      const ok = await s.receive(Readable.from([Buffer.from('hello')]), 5);
      await s.commit(ok.tmp, 'default/x', { ...ok.meta, contentType: 'text/plain' });
      expect(await s.stat('default/x')).toMatchObject({ size: 5, contentType: 'text/plain', sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' });
      // Promotion moves the staged bytes only if they still are the ones checked (size and sha256).
      const sha = (await s.stat('default/x'))!.sha256!;
      await s.write('uploads/default/y', Buffer.from('hello'), 'text/plain');
      expect(await s.promote('uploads/default/y', 'default/y', { etag: 'e', size: 5, sha256: 'f'.repeat(64) })).toBe('changed');
      expect(await s.stat('uploads/default/y')).toBeNull();
      await s.write('uploads/default/y', Buffer.from('hello'), 'text/plain');
      expect(await s.promote('uploads/default/y', 'default/y', { etag: 'e', size: 5, sha256: sha })).toBe('moved');
      expect(await s.promote('uploads/default/y', 'default/y', { etag: 'e', size: 5, sha256: sha })).toBe('moved');
      expect(await s.stat('default/y')).toMatchObject({ size: 5, sha256: sha, contentType: 'text/plain' });
      expect(await s.promote('uploads/default/z', 'default/z', { etag: 'e', size: 5, sha256: sha })).toBe('missing');
      await s.remove(['default/x', 'default/missing']);
      expect(await s.stat('default/x')).toBeNull();
      await expect(s.read('../x')).rejects.toThrow(/invalid object key/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
