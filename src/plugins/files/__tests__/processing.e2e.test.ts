/**
 * Every feature on (`FILES_FEATURES=all`), with real tools: clamd (Debian, our EICAR signatures), ffmpeg and
 * ffprobe, poppler's pdftoppm and pdfinfo, sharp. Also: clamd going away and coming back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { COMPLETE, DOWNLOAD, errorCode, startFiles, upload, type FilesFixture } from './support/fixture.js';
import { EICAR, which } from './support/clamd.js';
import { jpeg, mp4, pdf } from './support/media.js';

let fx: FilesFixture;

beforeAll(async () => {
  for (const tool of ['clamd', 'ffmpeg', 'ffprobe', 'pdftoppm', 'pdfinfo']) which(tool);
  fx = await startFiles('proc', { features: 'all', clamd: true });
  await fx.pool.query(
    `insert into files.bucket (id, max_size, allowed_mime_types, variant_sizes, variant_formats)
     values ('media', 20000000, '{}', '{96}', '{webp,avif}')`,
  );
});

afterAll(async () => {
  await fx?.close();
});

const objectPath = (key: string) => join(fx.dataDir, 'files', 'objects', key);

describe('virus scan', () => {
  it('quarantines EICAR: never downloadable, moved out of reach, no variants', async () => {
    const up = await upload(fx, Buffer.from(EICAR), { name: 'eicar.txt', mimeType: 'text/plain', bucket: 'media' });
    expect(up.completed.errors).toBeUndefined();
    // Until the scan clears it, not even its owner gets a URL.
    expect(up.completed.data.filesCompleteUpload).toMatchObject({ status: 'uploaded', url: null, thumbnailUrl: null });
    expect(errorCode(await fx.gql(DOWNLOAD, { id: up.id }))).toBe('files/not-ready');

    const f = await fx.settle(up.id);
    expect(f).toMatchObject({ status: 'quarantined', scan_result: 'infected', virus_name: 'Files.Test.EICAR.Body.UNOFFICIAL', variants: [] });
    expect(f.failure_reason).toMatch(/virus found/);
    expect(existsSync(objectPath(f.object_key))).toBe(false);
    expect(existsSync(objectPath(`quarantine/media/${up.id}`))).toBe(true);
    for (const variant of [null, 'thumbnail', '96.webp']) {
      expect(errorCode(await fx.gql(DOWNLOAD, { id: up.id, variant }))).toBe('files/quarantined');
    }
    const again = await fx.gql(COMPLETE, { id: up.id });
    expect(again.data.filesCompleteUpload).toMatchObject({ status: 'quarantined', url: null, thumbnailUrl: null });

    // Deleting it removes the quarantined copy too.
    await fx.gql('mutation ($id: uuid!) { filesDelete(id: $id) { id } }', { id: up.id });
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(objectPath(`quarantine/media/${up.id}`))).toBe(false);
  });

  it('finds EICAR inside a larger image-looking file too (body signature), before any variant is made', async () => {
    const bytes = Buffer.concat([await jpeg(64, 64), Buffer.from(EICAR)]);
    const up = await upload(fx, bytes, { name: 'sneaky.jpg', mimeType: 'image/jpeg', bucket: 'media' });
    const f = await fx.settle(up.id);
    expect(f.status).toBe('quarantined');
    expect(f.variants).toEqual([]);
    expect(existsSync(join(fx.dataDir, 'files', 'objects', 'variants', 'media', up.id))).toBe(false);
  });

  it('clears a clean file, then makes its variants', async () => {
    const up = await upload(fx, await jpeg(300, 200), { name: 'clean.jpg', mimeType: 'image/jpeg', bucket: 'media' });
    const f = await fx.settle(up.id);
    expect(f).toMatchObject({ status: 'ready', scan_result: 'clean', width: 300, height: 200 });
    expect(f.scanned_at).not.toBeNull();
    expect(f.variants.map((v) => v.name).sort()).toEqual(['96.avif', '96.webp']);
    const dl = await fx.gql(DOWNLOAD, { id: up.id });
    expect(dl.errors).toBeUndefined();
  });

  it('waits for clamd when it is down, and scans once it is back', async () => {
    await fx.clamd!.halt();
    try {
      const up = await upload(fx, Buffer.from('hello while clamd is away'), { name: 'wait.txt', mimeType: 'text/plain', bucket: 'media' });
      await fx.harness.drain({ timeoutMs: 20_000 });
      // The first attempt failed (clamd unreachable) and the job waits for its retry.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await fx.file(up.id))!.status).toBe('uploaded');
      await fx.clamd!.launch();
      const f = await fx.settle(up.id, ['ready', 'quarantined', 'failed'], 45_000);
      expect(f).toMatchObject({ status: 'ready', scan_result: 'clean' });
    } finally {
      if (!(await fx.clamd!.client(500).ping().then(() => true, () => false))) await fx.clamd!.launch();
    }
  });
});

describe('videos', () => {
  it('reads duration and dimensions and makes poster variants', async () => {
    const up = await upload(fx, mp4(3, 320, 240), { name: 'clip.mp4', mimeType: 'video/mp4', bucket: 'media' });
    const f = await fx.settle(up.id);
    expect(f.status).toBe('ready');
    expect(f.duration_seconds).toBeCloseTo(3, 0);
    expect([f.width, f.height]).toEqual([320, 240]);
    expect(f.variants.map((v) => [v.name, v.kind, v.width, v.height])).toEqual([
      ['poster.96.webp', 'poster', 96, 72],
      ['poster.96.avif', 'poster', 96, 72],
    ]);
    expect(f.blurhash).toBeTruthy();
    const dl = await fx.gql(DOWNLOAD, { id: up.id, variant: 'poster' });
    expect(dl.data.filesGetDownloadUrl.variant).toBe('poster.96.webp');
    const img = Buffer.from(await (await fetch(dl.data.filesGetDownloadUrl.url)).arrayBuffer());
    expect((await sharp(img).metadata()).format).toBe('webp');
  });

  it('fails a file that says it is a video but is not one', async () => {
    const up = await upload(fx, Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(2000, 9)]), {
      name: 'broken.mp4',
      mimeType: 'video/mp4',
      bucket: 'media',
    });
    expect(up.completed.errors).toBeUndefined();
    const f = await fx.settle(up.id);
    expect(f.status).toBe('failed');
    expect(f.failure_reason).toMatch(/^video: /);
  });
});

describe('PDFs', () => {
  it('counts the pages and makes a first-page preview', async () => {
    const up = await upload(fx, pdf(4), { name: 'report.pdf', mimeType: 'application/pdf', bucket: 'media' });
    const f = await fx.settle(up.id);
    expect(f.status).toBe('ready');
    expect(f.pages).toBe(4);
    expect(f.variants.map((v) => v.name)).toEqual(['preview.96.webp', 'preview.96.avif']);
    // A4 portrait: taller than wide.
    expect(f.height!).toBeGreaterThan(f.width!);
    const done = await fx.gql(COMPLETE, { id: up.id });
    expect(done.data.filesCompleteUpload.thumbnailUrl).toMatch(/preview\.96\.webp/);
  });
});
