/**
 * The S3 driver against s3rver (the S3 API, run here), with virus scanning on. s3rver does not check
 * signatures, so every presigned URL's SigV4 signature is recomputed here with the AWS SDK's presigner, and
 * the POST policy is decoded and checked condition by condition.
 */
import { createHash, createHmac } from 'node:crypto';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import * as Minio from 'minio';
import { COMPLETE, CREATE, DOWNLOAD, errorCode, S3_BUCKET, send, startFiles, upload, type FilesFixture } from './support/fixture.js';
import { EICAR } from './support/clamd.js';
import { jpeg } from './support/media.js';

let fx: FilesFixture;
let mc: Minio.Client;

beforeAll(async () => {
  fx = await startFiles('s3', { storage: 's3', features: 'thumbnails,virus-scan', clamd: true });
  mc = new Minio.Client({ endPoint: '127.0.0.1', port: fx.s3!.port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', region: 'us-east-1', pathStyle: true });
  await fx.pool.query(
    `insert into files.bucket (id, max_size, allowed_mime_types, variant_sizes, variant_formats)
     values ('s3pics', 8000000, '{image/*,text/plain}', '{64}', '{webp}')`,
  );
});

afterAll(async () => {
  await fx?.close();
});

/** The SDK's hash, over node:crypto. */
class Sha256 {
  private h;
  constructor(secret?: Uint8Array | string) {
    this.h = secret ? createHmac('sha256', Buffer.from(secret as Uint8Array)) : createHash('sha256');
  }
  update(d: Uint8Array | string) {
    this.h.update(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {}
}

/** Recomputes a presigned URL's SigV4 signature from its own parameters with the AWS SDK presigner. */
async function recomputeSignature(raw: string, method: string): Promise<string> {
  const url = new URL(raw);
  const presigner = new S3RequestPresigner({ credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, region: 'us-east-1', sha256: Sha256 as never });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!k.startsWith('X-Amz-')) query[k] = v;
  const d = url.searchParams.get('X-Amz-Date')!;
  const signingDate = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
  // The presigner's SigV4 signer itself: its `presign` wrapper would add X-Amz-Content-Sha256 to the query,
  // which S3 accepts but minio does not send; an opaque body stands for UNSIGNED-PAYLOAD as minio signs it.
  const signer = (presigner as unknown as { signer: { presign(r: unknown, o: unknown): Promise<{ query: Record<string, string> }> } }).signer;
  const signed = await signer.presign(
    { method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: decodeURIComponent(url.pathname), query, headers: { host: url.host }, body: {} },
    { signingDate, expiresIn: Number(url.searchParams.get('X-Amz-Expires')) },
  );
  return signed.query['X-Amz-Signature']!;
}

describe('single uploads to S3', () => {
  it('POST policy: exact size range, key, type and expiry are conditions the storage enforces', async () => {
    const bytes = await jpeg(200, 150);
    const up = await upload(fx, bytes, { name: 'policy.jpg', mimeType: 'image/jpeg', bucket: 's3pics' });
    const c = up.created;
    expect(c).toMatchObject({ method: 'POST', sizeEnforced: true, headers: {} });
    expect(c.url).toBe(`${fx.s3!.url}/${S3_BUCKET}`);
    const policy = JSON.parse(Buffer.from(c.fields.policy, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['eq', '$bucket', S3_BUCKET],
        ['eq', '$key', `uploads/s3pics/${up.id}`],
        ['eq', '$Content-Type', 'image/jpeg'],
        ['content-length-range', bytes.length, bytes.length],
        ['eq', '$x-amz-algorithm', 'AWS4-HMAC-SHA256'],
      ]),
    );
    const expires = Date.parse(policy.expiration);
    expect(expires).toBeGreaterThan(Date.now());
    expect(expires).toBeLessThanOrEqual(Date.now() + 300_000 + 1000);
    // The policy signature: HMAC chain of SigV4 over the base64 policy.
    const date = c.fields['x-amz-date'] as string;
    const key = ['us-east-1', 's3', 'aws4_request'].reduce((k: Buffer, part) => createHmac('sha256', k).update(part).digest(), createHmac('sha256', 'AWS4S3RVER').update(date.slice(0, 8)).digest());
    expect(c.fields['x-amz-signature']).toBe(createHmac('sha256', key).update(c.fields.policy).digest('hex'));

    expect(up.completed.errors).toBeUndefined();
    const f = await fx.settle(up.id);
    expect(f).toMatchObject({ status: 'ready', scan_result: 'clean' });
    expect(f.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    // Scanned, then moved from the staging key the client could write to the key downloads point at.
    expect((await mc.statObject(S3_BUCKET, `s3pics/${up.id}`)).size).toBe(bytes.length);
    await expect(mc.statObject(S3_BUCKET, `uploads/s3pics/${up.id}`)).rejects.toMatchObject({ code: 'NotFound' });
    const stored = await mc.statObject(S3_BUCKET, `variants/s3pics/${up.id}/64.webp`);
    expect(stored.metaData['content-type']).toBe('image/webp');
  });

  it('PUT: a SigV4 presigned URL for exactly this key, recomputed by the AWS SDK', async () => {
    const bytes = await jpeg(100, 100);
    const up = await upload(fx, bytes, { name: 'put.jpg', mimeType: 'image/jpeg', bucket: 's3pics', method: 'PUT' });
    const url = new URL(up.created.url);
    expect(up.created).toMatchObject({ method: 'PUT', sizeEnforced: false, headers: { 'Content-Type': 'image/jpeg' } });
    expect(url.pathname).toBe(`/${S3_BUCKET}/uploads/s3pics/${up.id}`);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect(url.searchParams.get('X-Amz-Signature')).toBe(await recomputeSignature(up.created.url, 'PUT'));
    expect(up.completed.errors).toBeUndefined();
  });

  it('more bytes than declared through a PUT URL: rejected at completion and the object deleted', async () => {
    const res = await fx.gql(CREATE, { bucket: 's3pics', name: 'big.txt', mimeType: 'text/plain', size: 10, method: 'PUT' });
    const target = res.data.filesCreateUpload;
    expect((await send(target, Buffer.from('far more than ten bytes of text'))).status).toBe(200);
    const done = await fx.gql(COMPLETE, { id: target.id });
    expect(errorCode(done)).toBe('files/size-mismatch');
    await fx.harness.drain({ timeoutMs: 20_000 });
    await expect(mc.statObject(S3_BUCKET, `uploads/s3pics/${target.id}`)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('more bytes than the bucket allows (s3rver does not enforce the policy; S3 would): rejected and deleted', async () => {
    const res = await fx.gql(CREATE, { bucket: 's3pics', name: 'huge.txt', mimeType: 'text/plain', size: 100 });
    const target = res.data.filesCreateUpload;
    expect((await send(target, Buffer.alloc(8_000_001, 'a'), 'text/plain')).status).toBe(204);
    const done = await fx.gql(COMPLETE, { id: target.id });
    expect(errorCode(done)).toBe('files/too-large');
    expect((await fx.file(target.id))!.status).toBe('failed');
    await fx.harness.drain({ timeoutMs: 20_000 });
    await expect(mc.statObject(S3_BUCKET, `uploads/s3pics/${target.id}`)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('download URLs: signed response headers, short expiry, the bytes', async () => {
    const bytes = await jpeg(120, 120);
    const up = await upload(fx, bytes, { name: 'résumé photo.jpg', mimeType: 'image/jpeg', bucket: 's3pics' });
    await fx.settle(up.id);
    const dl = await fx.gql(DOWNLOAD, { id: up.id, disposition: 'attachment', expiresIn: 60 });
    expect(dl.errors).toBeUndefined();
    const url = new URL(dl.data.filesGetDownloadUrl.url);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('response-content-type')).toBe('image/jpeg');
    expect(url.searchParams.get('response-content-disposition')).toBe(`attachment; filename="resume photo.jpg"; filename*=UTF-8''r%C3%A9sum%C3%A9%20photo.jpg`);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(await recomputeSignature(url.toString(), 'GET'));
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('EICAR in S3: quarantined under quarantine/, never signed', async () => {
    const up = await upload(fx, Buffer.from(EICAR), { name: 'x.txt', mimeType: 'text/plain', bucket: 's3pics' });
    const f = await fx.settle(up.id);
    expect(f.status).toBe('quarantined');
    for (const key of [`s3pics/${up.id}`, `uploads/s3pics/${up.id}`]) {
      await expect(mc.statObject(S3_BUCKET, key)).rejects.toMatchObject({ code: 'NotFound' });
    }
    expect((await mc.statObject(S3_BUCKET, `quarantine/s3pics/${up.id}`)).size).toBe(EICAR.length);
    expect(errorCode(await fx.gql(DOWNLOAD, { id: up.id }))).toBe('files/quarantined');
  });
});

describe('storage outage', () => {
  it('a delete while S3 is down: the purge answers 503 (retryable), and removes the objects once S3 is back', async () => {
    const bytes = await jpeg(80, 80);
    const up = await upload(fx, bytes, { name: 'outage.jpg', mimeType: 'image/jpeg', bucket: 's3pics' });
    const f = await fx.settle(up.id);
    expect(f.status).toBe('ready');
    const keys = [f.object_key, ...f.variants.map((v) => v.key)];
    await fx.s3!.stop();
    try {
      await fx.gql('mutation ($id: uuid!) { filesDelete(id: $id) { id } }', { id: up.id });
      const event = await (async () => {
        for (let i = 0; i < 100; i++) {
          const e = (await fx.harness.eventLog('files_file_purge')).find((x) => (x.payload as { data: { new: { id: string; deleted_at: string | null } } }).data.new?.id === up.id && (x.payload as { data: { new: { deleted_at: string | null } } }).data.new.deleted_at);
          if (e && (await fx.harness.invocations(e.id)).length > 0) return e;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('the purge was never attempted');
      })();
      const [first] = await fx.harness.invocations(event.id);
      expect(first!.status).toBe(503);
      expect(JSON.stringify(first!.response)).toMatch(/retryable/);
      expect((await fx.file(up.id))!.purged_at).toBeNull();
    } finally {
      await fx.s3!.start();
    }
    await fx.harness.drain({ timeoutMs: 20_000, fastForward: true });
    for (const k of keys) await expect(mc.statObject(S3_BUCKET, k)).rejects.toMatchObject({ code: 'NotFound' });
    expect((await fx.file(up.id))!.purged_at).not.toBeNull();
  });
});

describe('multipart uploads to S3', () => {
  it('presigned part URLs (SigV4 with partNumber and uploadId), completed with the ETags', async () => {
    const part = 5 * 1024 * 1024;
    const bytes = Buffer.concat([Buffer.alloc(part, 'a'), Buffer.alloc(1234, 'b')]);
    const created = await fx.gql(
      `mutation ($size: bigint!) { filesCreateMultipartUpload(bucket: "s3pics", name: "notes.txt", mimeType: "text/plain", size: $size, partSize: ${part}) { id partCount } }`,
      { size: bytes.length },
    );
    expect(created.errors).toBeUndefined();
    const { id, partCount } = created.data.filesCreateMultipartUpload;
    expect(partCount).toBe(2);
    const signed = await fx.gql('mutation ($id: uuid!) { filesSignUploadParts(id: $id, partNumbers: [1, 2]) { partNumber url size } }', { id });
    const uploadId = (await fx.file(id))!.upload_id!;
    const parts = [];
    for (const p of signed.data.filesSignUploadParts as { partNumber: number; url: string; size: number }[]) {
      const url = new URL(p.url);
      expect(url.searchParams.get('partNumber')).toBe(String(p.partNumber));
      expect(url.searchParams.get('uploadId')).toBe(uploadId);
      expect(url.searchParams.get('X-Amz-Signature')).toBe(await recomputeSignature(p.url, 'PUT'));
      const r = await fetch(p.url, { method: 'PUT', body: bytes.subarray((p.partNumber - 1) * part, (p.partNumber - 1) * part + p.size) });
      expect(r.status).toBe(200);
      parts.push({ partNumber: p.partNumber, etag: r.headers.get('etag')! });
    }
    const done = await fx.gql(COMPLETE, { id, parts });
    expect(done.errors).toBeUndefined();
    expect(done.data.filesCompleteUpload).toMatchObject({ status: 'uploaded', size: bytes.length, mimeType: 'text/plain' });
    const f = await fx.settle(id);
    expect(f).toMatchObject({ status: 'ready', sha256: createHash('sha256').update(bytes).digest('hex') });
  });
});
