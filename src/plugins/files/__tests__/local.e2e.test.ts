/**
 * Uploads and downloads through the local driver end to end: the real server, the harness running the
 * actions and delivering the real event triggers, jobs making variants with sharp, the signed
 * `/hooks/files/o/…` routes streaming bytes in and out.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { alice, bob, COMPLETE, CREATE, DOWNLOAD, errorCode, send, startFiles, upload, type FilesFixture } from './support/fixture.js';
import { jpeg, png } from './support/media.js';

let fx: FilesFixture;

beforeAll(async () => {
  fx = await startFiles('local');
  // A bucket with small variants keeps sharp's work (and the test) short.
  await fx.pool.query(
    `insert into files.bucket (id, public, max_size, allowed_mime_types, variant_sizes, variant_formats, user_quota)
     values ('photos', false, 2000000, '{image/*}', '{64,160}', '{webp,avif}', 3000000),
            ('tiny', false, 1000, '{}', '{64}', '{webp}', null)`,
  );
});

afterAll(async () => {
  await fx?.close();
});

const objectsDir = () => join(fx.dataDir, 'files', 'objects');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('upload, process, download (local driver)', () => {
  let id: string;
  let bytes: Buffer;

  it('creates an upload the storage route enforces, completes it and answers the file', async () => {
    bytes = await jpeg(640, 480, { orientation: 6, gps: true });
    const up = await upload(fx, bytes, { name: 'holiday photo.jpg', mimeType: 'image/jpeg', bucket: 'photos' });
    id = up.id;
    expect(up.created).toMatchObject({ method: 'PUT', status: 'pending', sizeEnforced: true, mimeType: 'image/jpeg', size: bytes.length, fields: {} });
    // The URL grants the staging key only; the checked bytes are moved to photos/<id> by the server.
    expect(up.created.url).toMatch(new RegExp(`^${fx.baseUrl}/hooks/files/o/uploads/photos/${id}\\?`));
    expect(up.created.headers).toEqual({ 'Content-Type': 'image/jpeg' });
    expect(up.completed.errors).toBeUndefined();
    const f = up.completed.data.filesCompleteUpload;
    expect(f).toMatchObject({ id, status: 'uploaded', mimeType: 'image/jpeg', size: bytes.length, thumbnailUrl: null, url: null });
    // Not downloadable until the first job has moved the checked bytes where downloads point.
    expect(errorCode(await fx.gql(DOWNLOAD, { id }))).toBe('files/not-ready');
  });

  it('processes the image: oriented dimensions, AVIF and WebP variants without metadata, blurhash, sha256', async () => {
    const f = await fx.settle(id);
    expect(f.status).toBe('ready');
    expect(f.sha256).toBe(sha(bytes));
    // Orientation 6 turns 640×480 into a portrait picture.
    expect([f.width, f.height]).toEqual([480, 640]);
    expect(f.blurhash).toMatch(/^[0-9A-Za-z#$%*+,-.:;=?@[\]^_{|}~]{20,}$/);
    expect(f.variants.map((v) => v.name).sort()).toEqual(['160.avif', '160.webp', '64.avif', '64.webp']);
    const v160 = f.variants.find((v) => v.name === '160.webp')!;
    expect([v160.width, v160.height]).toEqual([120, 160]);
    const res = await fx.gql(DOWNLOAD, { id, variant: '160.webp' });
    expect(res.errors).toBeUndefined();
    const body = Buffer.from(await (await fetch(res.data.filesGetDownloadUrl.url)).arrayBuffer());
    const meta = await sharp(body).metadata();
    expect(meta.format).toBe('webp');
    expect([meta.width, meta.height]).toEqual([120, 160]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
  });

  it('answers thumbnailUrl and url once ready, and completing again changes nothing', async () => {
    const again = await fx.gql(COMPLETE, { id });
    expect(again.errors).toBeUndefined();
    const f = again.data.filesCompleteUpload;
    expect(f.status).toBe('ready');
    expect(f.thumbnailUrl).toMatch(/64\.webp/);
    const thumb = await fetch(f.thumbnailUrl);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
  });

  it('serves ranges, ETag revalidation and the Content-Disposition asked for', async () => {
    const res = await fx.gql(DOWNLOAD, { id, disposition: 'attachment' });
    const { url, mimeType, size } = res.data.filesGetDownloadUrl;
    expect([mimeType, size]).toEqual(['image/jpeg', bytes.length]);
    const full = await fetch(url);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-disposition')).toBe(`attachment; filename="holiday photo.jpg"; filename*=UTF-8''holiday%20photo.jpg`);
    expect(full.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await full.arrayBuffer()).equals(bytes)).toBe(true);
    const etag = full.headers.get('etag')!;
    expect(etag).toBe(`"${createHash('md5').update(bytes).digest('hex')}"`);

    const notModified = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);

    const part = await fetch(url, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);

    const suffix = await fetch(url, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 5))).toBe(true);

    const beyond = await fetch(url, { headers: { range: `bytes=${bytes.length + 10}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
  });

  it('shows the file row to its owner and not to another user (private bucket)', async () => {
    const own = await fx.harness.select('user', alice, { schema: 'files', name: 'file' }, { id: { _eq: id } });
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ status: 'ready', name: 'holiday photo.jpg' });
    expect(own[0]).not.toHaveProperty('object_key');
    const other = await fx.harness.select('user', bob, { schema: 'files', name: 'file' }, { id: { _eq: id } });
    expect(other).toHaveLength(0);
  });

  it('treats another user\'s file id as not found, everywhere', async () => {
    for (const [doc, vars] of [
      [DOWNLOAD, { id }],
      [COMPLETE, { id }],
      ['mutation ($id: uuid!) { filesDelete(id: $id) { id } }', { id }],
      ['mutation ($id: uuid!) { filesAbortUpload(id: $id) { id } }', { id }],
      ['mutation ($id: uuid!) { filesSignUploadParts(id: $id, partNumbers: [1]) { url } }', { id }],
    ] as const) {
      const res = await fx.gql(doc, vars, bob);
      expect(errorCode(res)).toBe('files/not-found');
    }
    const missing = await fx.gql(DOWNLOAD, { id: '00000000-0000-4000-8000-000000000000' }, bob);
    expect(res(missing)).toEqual(res(await fx.gql(DOWNLOAD, { id }, bob)));
    function res(r: { errors?: any[] }) {
      return r.errors?.[0];
    }
  });

  it('deletes the file: gone from selects and URLs, objects and variants removed by the purge trigger', async () => {
    const f = (await fx.file(id))!;
    const keys = [f.object_key, ...f.variants.map((v) => v.key)];
    for (const k of keys) expect(existsSync(join(objectsDir(), k))).toBe(true);
    const del = await fx.gql('mutation ($id: uuid!) { filesDelete(id: $id) { id deleted } }', { id });
    expect(del.data).toEqual({ filesDelete: { id, deleted: true } });
    expect(errorCode(await fx.gql(DOWNLOAD, { id }))).toBe('files/not-found');
    await fx.harness.drain({ timeoutMs: 20_000 });
    for (const k of keys) expect(existsSync(join(objectsDir(), k))).toBe(false);
    expect(existsSync(join(objectsDir(), 'variants', 'photos', id))).toBe(false);
    expect((await fx.file(id))!.purged_at).not.toBeNull();
    // Deleting again answers the same and changes nothing.
    const again = await fx.gql('mutation ($id: uuid!) { filesDelete(id: $id) { id deleted } }', { id });
    expect(again.data).toEqual({ filesDelete: { id, deleted: true } });
  });
});

describe('the local upload route', () => {
  it('refuses more bytes than declared, before storing anything', async () => {
    const res = await fx.gql(CREATE, { bucket: 'photos', name: 'a.png', mimeType: 'image/png', size: 100 });
    const target = res.data.filesCreateUpload;
    const sent = await send(target, Buffer.alloc(5000, 1));
    expect(sent.status).toBe(413);
    expect(existsSync(join(objectsDir(), 'uploads', 'photos', target.id))).toBe(false);
    expect(readdirSync(join(fx.dataDir, 'files', 'tmp'))).toEqual([]);
    // A chunked body (no Content-Length) is cut off as it streams.
    const chunked = await fetch(target.url, {
      method: 'PUT',
      headers: target.headers,
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(64));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(existsSync(join(objectsDir(), 'uploads', 'photos', target.id))).toBe(false);
  });

  it('refuses an expired URL and any tampered parameter', async () => {
    const res = await fx.gql(CREATE, { bucket: 'photos', name: 'b.png', mimeType: 'image/png', size: 10 });
    const url = new URL(res.data.filesCreateUpload.url);
    const body = Buffer.alloc(10);
    const put = (u: URL, type = 'image/png') => fetch(u, { method: 'PUT', headers: { 'content-type': type }, body });
    const tampered = (k: string, v: string) => {
      const u = new URL(url);
      u.searchParams.set(k, v);
      return u;
    };
    for (const u of [tampered('max', '100000'), tampered('exp', String(Number(url.searchParams.get('exp')) + 3600)), tampered('ct', 'text/html'), tampered('op', 'get'), tampered('sig', 'AAAA')]) {
      const r = await put(u);
      expect(r.status).toBe(403);
      expect(((await r.json()) as any).extensions.code).toBe('files/signature-mismatch');
    }
    const otherKey = new URL(url.toString().replace(/\/o\/uploads\/photos\/[^?]+/, '/o/uploads/photos/00000000-0000-4000-8000-000000000000'));
    expect(otherKey.toString()).not.toBe(url.toString());
    expect((await put(otherKey)).status).toBe(403);
    const dup = new URL(url);
    dup.searchParams.append('max', url.searchParams.get('max')!);
    expect((await put(dup)).status).toBe(403);
    // The content type the URL was signed for.
    expect((await put(url, 'text/html')).status).toBe(403);
    // A download URL cannot be used to upload, nor an upload URL to download.
    expect((await fetch(url)).status).toBe(403);

    // Expired: signed with an expiry in the past (as a clock past it would see it).
    const { LocalStorage } = await import('../lib/storage/local.js');
    const { filesStorage } = await import('../lib/services.js');
    const storage = fx.runtime.pluginRuntime('files').service(filesStorage) as InstanceType<typeof LocalStorage>;
    const expired = await storage.createUpload({ key: `uploads/photos/${res.data.filesCreateUpload.id}`, contentType: 'image/png', size: 10, expiresInSeconds: -5 });
    const r = await put(new URL(expired.url));
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).extensions.code).toBe('files/expired');
    expect((await fx.file(res.data.filesCreateUpload.id))!.status).toBe('pending');
  });

  it('takes no more bytes once the upload is completed, and fails a file whose bytes were swapped before they were moved', async () => {
    const bytes = await jpeg(50, 50);
    // Holds the first job back, so the swap below surely comes between completion and the move.
    const scans = fx.runtime.queue.queue('files.scan');
    await scans.pause();
    const up = await upload(fx, bytes, { name: 'swap.jpg', mimeType: 'image/jpeg', bucket: 'photos' });
    expect(up.completed.errors).toBeUndefined();
    // Re-using the (still valid) URL after completion.
    const again = await send(up.created, Buffer.alloc(bytes.length, 0x41));
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).extensions.code).toBe('files/not-pending');
    // What an S3 URL would still allow: the staged object replaced between completion and the first job.
    const { filesStorage } = await import('../lib/services.js');
    const storage = fx.runtime.pluginRuntime('files').service(filesStorage);
    await storage.write(`uploads/photos/${up.id}`, Buffer.alloc(bytes.length, 0x41), 'image/jpeg');
    await fx.harness.drain({ timeoutMs: 20_000 });
    await scans.resume();
    const f = await fx.settle(up.id);
    expect(f.status).toBe('failed');
    expect(f.failure_reason).toBe('the upload was replaced after it was completed');
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(join(objectsDir(), 'uploads', 'photos', up.id))).toBe(false);
    expect(existsSync(join(objectsDir(), 'photos', up.id))).toBe(false);
  });

  it('answers CORS preflights for browser uploads', async () => {
    const r = await fetch(`${fx.baseUrl}/hooks/files/o/photos/x`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-methods')).toContain('PUT');
  });
});

describe('multipart uploads (local driver)', () => {
  it('signs parts, accepts them in any order and again, and completes with their ETags', async () => {
    const part = 5 * 1024 * 1024;
    const bytes = Buffer.concat([Buffer.alloc(part, 1), Buffer.alloc(part, 2), Buffer.alloc(1000, 3)]);
    const created = await fx.gql(
      `mutation ($size: bigint!) { filesCreateMultipartUpload(name: "big.bin", mimeType: "application/octet-stream", size: $size, partSize: ${part}) { id partSize partCount status expiresAt } }`,
      { size: bytes.length },
    );
    expect(created.errors).toBeUndefined();
    const mp = created.data.filesCreateMultipartUpload;
    expect(mp).toMatchObject({ partSize: part, partCount: 3, status: 'pending' });
    const signed = await fx.gql('mutation ($id: uuid!) { filesSignUploadParts(id: $id, partNumbers: [3, 1, 2]) { partNumber url size method } }', { id: mp.id });
    expect(signed.errors).toBeUndefined();
    const parts = signed.data.filesSignUploadParts as { partNumber: number; url: string; size: number }[];
    expect(parts.map((p) => [p.partNumber, p.size])).toEqual([[3, 1000], [1, part], [2, part]]);
    const etags: { partNumber: number; etag: string }[] = [];
    for (const p of parts) {
      const chunk = bytes.subarray((p.partNumber - 1) * part, (p.partNumber - 1) * part + p.size);
      // A part larger than its size is refused by the route.
      if (p.partNumber === 3) expect((await fetch(p.url, { method: 'PUT', body: Buffer.alloc(p.size + 1) })).status).toBe(413);
      const r = await fetch(p.url, { method: 'PUT', body: chunk });
      expect(r.status).toBe(200);
      etags.push({ partNumber: p.partNumber, etag: r.headers.get('etag')! });
    }
    // Resend part 2 (a retry after a lost connection): still fine.
    expect((await fetch(parts[2]!.url, { method: 'PUT', body: bytes.subarray(part, 2 * part) })).status).toBe(200);
    const bad = await fx.gql(COMPLETE, { id: mp.id, parts: etags.map((e) => ({ ...e, etag: e.partNumber === 1 ? '"0000"' : e.etag })) });
    expect(errorCode(bad)).toBe('files/invalid-parts');
    const done = await fx.gql(COMPLETE, { id: mp.id, parts: etags });
    expect(done.errors).toBeUndefined();
    expect(done.data.filesCompleteUpload).toMatchObject({ status: 'uploaded', size: bytes.length, sha256: sha(bytes) });
    const f = await fx.settle(mp.id);
    expect(f.status).toBe('ready');
    const url = (await fx.gql(DOWNLOAD, { id: mp.id })).data.filesGetDownloadUrl.url;
    const got = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(sha(got)).toBe(sha(bytes));
  });

  it('aborts a pending upload and removes the parts', async () => {
    const created = await fx.gql('mutation { filesCreateMultipartUpload(name: "x.bin", mimeType: "application/octet-stream", size: 6000000) { id } }');
    const id = created.data.filesCreateMultipartUpload.id;
    const uploadId = (await fx.file(id))!.upload_id!;
    const signed = await fx.gql('mutation ($id: uuid!) { filesSignUploadParts(id: $id, partNumbers: [1]) { url } }', { id });
    await fetch(signed.data.filesSignUploadParts[0].url, { method: 'PUT', body: Buffer.alloc(1000) });
    expect(existsSync(join(fx.dataDir, 'files', 'multipart', uploadId))).toBe(true);
    const ab = await fx.gql('mutation ($id: uuid!) { filesAbortUpload(id: $id) { id aborted } }', { id });
    expect(ab.data).toEqual({ filesAbortUpload: { id, aborted: true } });
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(join(fx.dataDir, 'files', 'multipart', uploadId))).toBe(false);
    expect(errorCode(await fx.gql('mutation ($id: uuid!) { filesAbortUpload(id: $id) { id } }', { id }))).toBe('files/not-found');
  });
});

describe('quota and usage', () => {
  it('reserves declared sizes, refuses what would exceed the quota and reports usage', async () => {
    const session = { role: 'user', userId: 'carol' };
    const big = await fx.gql(CREATE, { bucket: 'photos', name: 'a.jpg', mimeType: 'image/jpeg', size: 1_800_000 }, session);
    expect(big.errors).toBeUndefined();
    const over = await fx.gql(CREATE, { bucket: 'photos', name: 'b.jpg', mimeType: 'image/jpeg', size: 1_800_000 }, session);
    expect(errorCode(over)).toBe('files/quota-exceeded');
    const usage = await fx.gql('query { filesUsage(bucket: "photos") { bucket usedBytes fileCount quotaBytes remainingBytes } }', {}, session);
    expect(usage.data.filesUsage).toEqual([{ bucket: 'photos', usedBytes: 1_800_000, fileCount: 1, quotaBytes: 3_000_000, remainingBytes: 1_200_000 }]);
    // Aborting releases the reservation.
    await fx.gql('mutation ($id: uuid!) { filesAbortUpload(id: $id) { id } }', { id: big.data.filesCreateUpload.id }, session);
    const now = await fx.gql(CREATE, { bucket: 'photos', name: 'b.jpg', mimeType: 'image/jpeg', size: 1_800_000 }, session);
    expect(now.errors).toBeUndefined();
    const all = await fx.gql('query { filesUsage { bucket usedBytes quotaBytes } }', {}, session);
    expect(all.data.filesUsage.map((u: { bucket: string }) => u.bucket)).toEqual(['avatars', 'default', 'photos', 'tiny']);
  });
});

describe('filesReprocess', () => {
  it('remakes the variants of ready files at the bucket\'s new sizes and removes the old ones (admin only)', async () => {
    await fx.pool.query(`insert into files.bucket (id, variant_sizes, variant_formats) values ('redo', '{32}', '{webp}')`);
    const up = await upload(fx, await jpeg(200, 100), { name: 'redo.jpg', mimeType: 'image/jpeg', bucket: 'redo' });
    const before = await fx.settle(up.id);
    expect(before.variants.map((v) => v.name)).toEqual(['32.webp']);
    await fx.pool.query(`update files.bucket set variant_sizes = '{48,96}', variant_formats = '{webp,avif}' where id = 'redo'`);

    const doc = 'mutation ($b: String!) { filesReprocess(bucket: $b) { queued lastId } }';
    expect(errorCode(await fx.gql(doc, { b: 'redo' }, alice))).toBe('validation-failed');
    const res = await fx.harness.graphql(doc, { b: 'redo' });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ filesReprocess: { queued: 1, lastId: null } });
    const after = await fx.settle(up.id, ['ready'], 60_000);
    expect(after.variants.map((v) => v.name).sort()).toEqual(['48.avif', '48.webp', '96.avif', '96.webp']);
    expect(existsSync(join(objectsDir(), before.variants[0]!.key))).toBe(false);
    for (const v of after.variants) expect(existsSync(join(objectsDir(), v.key))).toBe(true);
    expect(errorCode(await fx.harness.graphql(doc, { b: 'nope' }))).toBe('files/unknown-bucket');
  });
});

describe('concurrency', () => {
  it('two completions at once: one transition, both answered the same file', async () => {
    const bytes = await jpeg(30, 30);
    const res = await fx.gql(CREATE, { bucket: 'photos', name: 'twice.jpg', mimeType: 'image/jpeg', size: bytes.length });
    const target = res.data.filesCreateUpload;
    await send(target, bytes);
    const [a, b] = await Promise.all([fx.gql(COMPLETE, { id: target.id }), fx.gql(COMPLETE, { id: target.id })]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    expect(a.data.filesCompleteUpload.status).toBe('uploaded');
    expect(b.data.filesCompleteUpload.status).toBe('uploaded');
    await fx.settle(target.id);
    const toUploaded = (await fx.harness.eventLog('files_file_status_changed')).filter((e) => {
      const d = (e.payload as { data: { new: { id: string; status: string } } }).data.new;
      return d.id === target.id && d.status === 'uploaded';
    });
    expect(toUploaded).toHaveLength(1);
  });

  it('concurrent uploads cannot overshoot the quota together', async () => {
    const session = { role: 'user', userId: 'frank' };
    const results = await Promise.all(
      [1, 2, 3].map((i) => fx.gql(CREATE, { bucket: 'photos', name: `c${i}.jpg`, mimeType: 'image/jpeg', size: 1_400_000 }, session)),
    );
    expect(results.filter((r) => !r.errors)).toHaveLength(2);
    expect(results.filter((r) => errorCode(r) === 'files/quota-exceeded')).toHaveLength(1);
  });
});

describe('public buckets', () => {
  it('lets every user read ready files of a public bucket, and not pending ones', async () => {
    const avatar = await png(300, 200);
    const up = await upload(fx, avatar, { name: 'me.png', mimeType: 'image/png', bucket: 'avatars', session: { role: 'user', userId: 'dave' } });
    expect(up.completed.errors).toBeUndefined();
    const pending = await fx.harness.select('user', bob, { schema: 'files', name: 'file' }, { id: { _eq: up.id } });
    expect(pending).toHaveLength(0);
    const f = await fx.settle(up.id);
    expect(f.status).toBe('ready');
    // Square crops at the avatar sizes, never upscaled.
    expect(f.variants.filter((v) => v.format === 'webp').map((v) => [v.name, v.width, v.height])).toEqual([
      ['64.webp', 64, 64],
      ['128.webp', 128, 128],
      ['256.webp', 200, 200],
      ['512.webp', 200, 200],
    ]);
    const seen = await fx.harness.select('user', bob, { schema: 'files', name: 'file' }, { id: { _eq: up.id } });
    expect(seen).toHaveLength(1);
    const dl = await fx.gql(DOWNLOAD, { id: up.id, variant: 'thumbnail' }, bob);
    expect(dl.errors).toBeUndefined();
    expect(dl.data.filesGetDownloadUrl.variant).toBe('64.webp');
    // Reading is not owning.
    expect(errorCode(await fx.gql('mutation ($id: uuid!) { filesDelete(id: $id) { id } }', { id: up.id }, bob))).toBe('files/not-found');
  });
});
