/**
 * Bad input, replays and the expiry crons, through the real server and the harness: every refusal is a
 * clear 4xx (or a file `failed` with its reason) and leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { alice, COMPLETE, CREATE, DOWNLOAD, errorCode, send, startFiles, upload, type FilesFixture } from './support/fixture.js';
import { corruptPng, elf, jpeg, pngBomb } from './support/media.js';

let fx: FilesFixture;

beforeAll(async () => {
  fx = await startFiles('bad');
  await fx.pool.query(
    `insert into files.bucket (id, max_size, allowed_mime_types, variant_sizes, variant_formats, user_quota)
     values ('pics', 5000000, '{image/*}', '{64}', '{webp}', 10000000)`,
  );
});

afterAll(async () => {
  await fx?.close();
});

const objectPath = (key: string) => join(fx.dataDir, 'files', 'objects', key);
const count = async () => (await fx.pool.query('select count(*)::int as n from files.file')).rows[0].n as number;

describe('filesCreateUpload refuses', () => {
  it.each([
    ['a name with ../', { name: '../../etc/passwd' }, 'files/invalid-name'],
    // Refused by the server for every action before the handler runs: PostgreSQL text cannot hold U+0000.
    ['a name with a NUL byte', { name: 'a\u0000.png' }, 'invalid-input'],
    ['a name with an RTL override', { name: 'invoice\u202Egnp.exe' }, 'files/invalid-name'],
    ['a name of 10,000 characters', { name: 'x'.repeat(10_000) }, 'files/invalid-name'],
    ['an empty name', { name: '   ' }, 'files/invalid-name'],
    ['a malformed MIME type', { mimeType: 'not a type' }, 'files/invalid-type'],
    ['a type the bucket does not take', { mimeType: 'application/pdf' }, 'files/type-not-allowed'],
    ['a size over the bucket limit', { size: 5_000_001 }, 'files/too-large'],
    ['an empty file', { size: 0 }, 'files/too-small'],
    ['a size that is not a number', { size: 'lots' }, 'files/invalid-input'],
    ['a negative size', { size: -1 }, 'files/invalid-input'],
    // Hasura itself refuses a fraction for bigint.
    ['a fractional size', { size: 1.5 }, 'parse-failed'],
    ['an unknown bucket', { bucket: 'nope' }, 'files/unknown-bucket'],
  ])('%s, with a 4xx and no row', async (_what, over, code) => {
    const before = await count();
    const res = await fx.gql(CREATE, { bucket: 'pics', name: 'a.png', mimeType: 'image/png', size: 100, ...over });
    expect(errorCode(res)).toBe(code);
    expect(await count()).toBe(before);
  });

  it('metadata over 4 KiB or not an object', async () => {
    const doc = 'mutation ($m: jsonb) { filesCreateUpload(name: "a", mimeType: "text/plain", size: 1, metadata: $m) { id } }';
    expect(errorCode(await fx.gql(doc, { m: { note: 'x'.repeat(5000) } }))).toBe('files/invalid-input');
    expect(errorCode(await fx.gql(doc, { m: [1, 2] }))).toBe('files/invalid-input');
  });

  it('wrong GraphQL types and missing fields before the handler runs', async () => {
    expect(errorCode(await fx.gql('mutation { filesCreateUpload(name: 42, mimeType: "a/b", size: 1) { id } }'))).toBe('validation-failed');
    expect(errorCode(await fx.gql('mutation { filesCreateUpload(mimeType: "a/b", size: 1) { id } }'))).toBe('validation-failed');
    expect(errorCode(await fx.gql('mutation { filesCreateUpload(name: "a", mimeType: "a/b", size: 1, method: PATCH) { id } }'))).toBe('validation-failed');
  });

  it('a session without a user id, and a role without permission', async () => {
    expect(errorCode(await fx.gql(CREATE, { name: 'a', mimeType: 'text/plain', size: 1 }, { role: 'user' }))).toBe('files/no-user');
    expect(errorCode(await fx.gql(CREATE, { name: 'a', mimeType: 'text/plain', size: 1 }, { role: 'anonymous' }))).toBe('validation-failed');
  });

  it('ids that are not UUIDs, and too many parts at once', async () => {
    expect(errorCode(await fx.gql(DOWNLOAD, { id: 'not-a-uuid' }))).toBe('files/invalid-input');
    expect(errorCode(await fx.gql(COMPLETE, { id: "1' or '1'='1" }))).toBe('files/invalid-input');
    const parts = Array.from({ length: 1001 }, (_, i) => i + 1);
    const res = await fx.gql('mutation ($p: [Int!]!) { filesSignUploadParts(id: "00000000-0000-4000-8000-000000000000", partNumbers: $p) { url } }', { p: parts });
    expect(errorCode(res)).toBe('files/invalid-input');
  });
});

describe('filesCompleteUpload rejects and deletes', () => {
  async function rejected(bytes: Buffer, o: { mimeType: string; declaredSize?: number }, code: string) {
    const up = await upload(fx, bytes, { ...o, bucket: 'pics', name: 'x.png' });
    expect(errorCode(up.completed)).toBe(code);
    const f = (await fx.file(up.id))!;
    expect(f.status).toBe('failed');
    expect(f.failure_reason).toBeTruthy();
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(objectPath(`uploads/${f.object_key}`))).toBe(false);
    // Completing again answers the rejection, and nothing is downloadable.
    expect(errorCode(await fx.gql(COMPLETE, { id: up.id }))).toBe('files/upload-failed');
    expect(errorCode(await fx.gql(DOWNLOAD, { id: up.id }))).toBe('files/upload-failed');
    return f;
  }

  it('a declared image/png that is an ELF executable', async () => {
    const f = await rejected(elf(), { mimeType: 'image/png' }, 'files/type-mismatch');
    expect(f.failure_reason).toMatch(/application\/x-elf/);
  });

  it('a declared image/png without a PNG signature', async () => {
    await rejected(Buffer.from('just some text, not an image at all'), { mimeType: 'image/png' }, 'files/type-mismatch');
  });

  it('fewer bytes than declared', async () => {
    const bytes = await jpeg(32, 32);
    await rejected(bytes, { mimeType: 'image/jpeg', declaredSize: bytes.length + 10 }, 'files/size-mismatch');
  });

  it('an upload that would now exceed the quota (the quota was lowered meanwhile)', async () => {
    const bytes = await jpeg(40, 40);
    const res = await fx.gql(CREATE, { bucket: 'pics', name: 'q.jpg', mimeType: 'image/jpeg', size: bytes.length }, { role: 'user', userId: 'quota-user' });
    await send(res.data.filesCreateUpload, bytes);
    await fx.pool.query(`update files.bucket set user_quota = 10 where id = 'pics'`);
    try {
      const done = await fx.gql(COMPLETE, { id: res.data.filesCreateUpload.id }, { role: 'user', userId: 'quota-user' });
      expect(errorCode(done)).toBe('files/quota-exceeded');
    } finally {
      await fx.pool.query(`update files.bucket set user_quota = 10000000 where id = 'pics'`);
    }
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(objectPath(`uploads/pics/${res.data.filesCreateUpload.id}`))).toBe(false);
  });

  it('nothing uploaded yet: a 409, and the upload stays open', async () => {
    const res = await fx.gql(CREATE, { bucket: 'pics', name: 'later.jpg', mimeType: 'image/jpeg', size: 10 });
    const id = res.data.filesCreateUpload.id;
    expect(errorCode(await fx.gql(COMPLETE, { id }))).toBe('files/upload-missing');
    expect((await fx.file(id))!.status).toBe('pending');
    expect(errorCode(await fx.gql(COMPLETE, { id, parts: [{ partNumber: 1, etag: 'x' }] }))).toBe('files/not-multipart');
  });
});

describe('hostile images fail processing with a reason, and the worker goes on', () => {
  it('a corrupt image and a decompression-bomb PNG end failed; the next image is processed', async () => {
    const corrupt = await upload(fx, await corruptPng(), { mimeType: 'image/png', bucket: 'pics', name: 'corrupt.png' });
    expect(corrupt.completed.errors).toBeUndefined();
    const bomb = pngBomb(100_000);
    const started = Date.now();
    const b = await upload(fx, bomb, { mimeType: 'image/png', bucket: 'pics', name: 'bomb.png' });
    expect(b.completed.errors).toBeUndefined();

    const fc = await fx.settle(corrupt.id);
    expect(fc.status).toBe('failed');
    expect(fc.failure_reason).toMatch(/^image: /);
    const fb = await fx.settle(b.id);
    expect(fb.status).toBe('failed');
    expect(fb.failure_reason).toMatch(/100000×100000 pixels, more than the 50000000 allowed/);
    // Refused from the header: no 30 GB decode was attempted.
    expect(Date.now() - started).toBeLessThan(30_000);
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(objectPath(fb.object_key))).toBe(false);

    const ok = await upload(fx, await jpeg(100, 80), { mimeType: 'image/jpeg', bucket: 'pics', name: 'fine.jpg' });
    const f = await fx.settle(ok.id);
    expect(f.status).toBe('ready');
    expect(f.variants.map((v) => v.name)).toEqual(['64.webp']);
  });
});

describe('replays', () => {
  it('a redelivered status event enqueues nothing new and changes nothing', async () => {
    const up = await upload(fx, await jpeg(120, 90), { mimeType: 'image/jpeg', bucket: 'pics', name: 'r.jpg' });
    const before = await fx.settle(up.id);
    const events = (await fx.harness.eventLog('files_file_status_changed')).filter((e) => (e.payload as { data: { new: { id: string } } }).data.new.id === up.id);
    expect(events.length).toBeGreaterThanOrEqual(2);
    // The jobs the events started (job id = event id), and when they ran.
    const jobsOf = async () => {
      const out: Record<string, number | undefined> = {};
      for (const e of events) {
        for (const q of ['files.scan', 'files.media']) {
          const job = await fx.runtime.queue.queue(q).getJob(e.id);
          if (job) out[`${q}/${e.id}`] = job.processedOn;
        }
      }
      return out;
    };
    const ran = await jobsOf();
    // uploaded → digest job, processing → image job; the event of ready starts nothing.
    expect(Object.keys(ran)).toHaveLength(2);
    for (const e of events) await fx.harness.redeliverEvent(e.id);
    await fx.harness.drain({ timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 500));
    const after = (await fx.file(up.id))!;
    expect(after.processed_at).toEqual(before.processed_at);
    expect(after.updated_at).toEqual(before.updated_at);
    expect(after.variants).toEqual(before.variants);
    // One job per event id, whatever the number of deliveries: the same jobs, not run again.
    expect(await jobsOf()).toEqual(ran);
    for (const e of events) expect((await fx.harness.invocations(e.id)).length).toBe(2);
  });
});

describe('expiry crons', () => {
  it('drops single uploads never completed, releasing their quota and bytes', async () => {
    const session = { role: 'user', userId: 'erin' };
    const res = await fx.gql(CREATE, { bucket: 'pics', name: 'late.jpg', mimeType: 'image/jpeg', size: 20 }, session);
    const id = res.data.filesCreateUpload.id;
    await send(res.data.filesCreateUpload, Buffer.alloc(20, 7));
    await fx.pool.query(`update files.file set expires_at = now() - interval '1 minute' where id = $1`, [id]);
    expect((await fx.harness.fireCron('files_pending_drop_expired')).status).toBe('delivered');
    const f = (await fx.file(id))!;
    expect(f.deleted_at).not.toBeNull();
    expect(f.failure_reason).toBe('upload never completed');
    await fx.harness.drain({ timeoutMs: 20_000 });
    expect(existsSync(objectPath(`uploads/${f.object_key}`))).toBe(false);
    const usage = await fx.gql('query { filesUsage(bucket: "pics") { usedBytes fileCount } }', {}, session);
    expect(usage.data.filesUsage[0]).toEqual({ usedBytes: 0, fileCount: 0 });
    // Fired again: nothing else to do.
    expect((await fx.harness.fireCron('files_pending_drop_expired')).status).toBe('delivered');
  });

  it('aborts abandoned multipart uploads', async () => {
    const created = await fx.gql('mutation { filesCreateMultipartUpload(name: "m.bin", mimeType: "application/octet-stream", size: 6000000) { id } }', {}, alice);
    const id = created.data.filesCreateMultipartUpload.id;
    const uploadId = (await fx.file(id))!.upload_id!;
    const signed = await fx.gql('mutation ($id: uuid!) { filesSignUploadParts(id: $id, partNumbers: [1]) { url } }', { id });
    await fetch(signed.data.filesSignUploadParts[0].url, { method: 'PUT', body: Buffer.alloc(1000) });
    await fx.pool.query(`update files.file set expires_at = now() - interval '1 minute' where id = $1`, [id]);
    expect((await fx.harness.fireCron('files_multipart_abort_abandoned')).status).toBe('delivered');
    expect(existsSync(join(fx.dataDir, 'files', 'multipart', uploadId))).toBe(false);
    const f = (await fx.file(id))!;
    expect(f.deleted_at).not.toBeNull();
    expect(f.failure_reason).toBe('multipart upload abandoned');
  });
});
