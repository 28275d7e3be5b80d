/**
 * The files module in Node against `nself-plugins dev` (local storage driver): single uploads to ready,
 * multipart uploads whose failed parts are retried, resuming from a checkpoint, cancelling, and the client-side
 * checks that refuse before a byte moves.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import WebSocket from 'ws';
import { createNselfClient, createFiles, fetchTransport, NselfError, type MultipartCheckpoint, type NselfClient, type Transport } from '../../src/client/index.js';
import { startSdkDev, type SdkDev } from './support/dev.js';

let s: SdkDev;
let c: NselfClient;
beforeAll(async () => {
  s = await startSdkDev('sdk_files');
  c = createNselfClient({ url: s.graphqlUrl, auth: await s.token('uploader'), webSocketImpl: WebSocket });
}, 120_000);
afterAll(async () => {
  await c?.close();
  await s?.close();
});

const MiB = 1024 * 1024;
const png = async () => new Blob([new Uint8Array(await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } }).png().toBuffer())], { type: 'image/png' });

describe('single uploads', () => {
  it('uploads an image with progress and follows it to ready with its thumbnail', async () => {
    const files = createFiles(c);
    const progress: number[] = [];
    const file = await png();
    const up = await files.upload(file, { name: 'red.png', onProgress: (p) => progress.push(p.loaded / p.total) });
    expect(up).toMatchObject({ name: 'red.png', mimeType: 'image/png', status: 'uploaded' });
    expect(progress.at(-1)).toBe(1);
    const statuses: string[] = [];
    const ready = await files.waitUntilReady(up.id, { onStatus: (f) => statuses.push(f.status) });
    expect(ready).toMatchObject({ status: 'ready', width: 64, height: 48 });
    expect(statuses.at(-1)).toBe('ready');
    const thumb = await files.downloadUrl(up.id, { variant: 'thumbnail' });
    const res = await fetch(thumb.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
  });

  it('refuses before a byte moves what the picker or the bucket would refuse, with the server codes', async () => {
    const files = createFiles(c);
    const before = await files.usage('default');
    const big = new Blob([new Uint8Array(2 * MiB)], { type: 'image/png' });
    const refusals = await Promise.all([
      files.upload(big, { name: 'big.png', maxSize: '1MB' }).catch((e: NselfError) => e.code),
      files.upload(await png(), { name: 'x.png', accept: 'video/*,application/pdf' }).catch((e: NselfError) => e.code),
      files.upload(await png(), { name: 'evil\u202egnp.exe' }).catch((e: NselfError) => e.code),
      files.upload(await png(), { name: 'a.png', bucket: 'avatars', mimeType: 'application/x-msdownload' }).catch((e: NselfError) => e.code),
      files.upload(new Blob([new Uint8Array(6 * MiB)], { type: 'image/png' }), { name: 'huge.png', bucket: 'avatars' }).catch((e: NselfError) => e.code),
    ]);
    expect(refusals).toEqual(['files/too-large', 'files/type-not-allowed', 'files/invalid-name', 'files/type-not-allowed', 'files/too-large']);
    expect(await files.usage('default')).toEqual(before);
  });

  it('cancels an upload in flight and drops it on the server', async () => {
    const ac = new AbortController();
    let started!: () => void;
    const sending = new Promise<void>((r) => (started = r));
    // Holds the bytes until cancelled, as a slow network would.
    const slow: Transport = (r) =>
      new Promise((_, reject) => {
        started();
        r.signal?.addEventListener('abort', () => reject(new NselfError('the operation was cancelled', 'aborted')));
      });
    const files = createFiles(c, { transport: slow });
    const before = (await files.usage('default'))[0]!;
    const upload = files.upload(await png(), { name: 'cancel.png', signal: ac.signal });
    await sending;
    ac.abort();
    await expect(upload).rejects.toMatchObject({ code: 'aborted' });
    // The reservation is released: usage is as before the upload started.
    expect((await files.usage('default'))[0]).toEqual(before);
  });
});

describe('multipart uploads', () => {
  const bytes = new Uint8Array(randomBytes(11 * MiB + 12345));
  const blob = () => new Blob([bytes], { type: 'application/octet-stream' });

  it('sends parts a few at a time, retries a failed part and completes', async () => {
    const calls: { part: string; outcome: string }[] = [];
    const failures = new Map([['2', 'network'], ['3', '500']]);
    const flaky: Transport = async (r) => {
      const part = new URL(r.url).searchParams.get('part') ?? '?';
      const failure = failures.get(part);
      failures.delete(part);
      calls.push({ part, outcome: failure ?? 'sent' });
      if (failure === 'network') throw new NselfError('connection reset', 'network');
      if (failure === '500') return { status: 500, etag: null, body: 'try again' };
      return fetchTransport(r);
    };
    const files = createFiles(c, { transport: flaky, retryBaseMs: 10 });
    const checkpoints: MultipartCheckpoint[] = [];
    const progress: number[] = [];
    const up = await files.upload(blob(), { name: 'big.bin', multipart: true, partSize: 5 * MiB, onCheckpoint: (cp) => checkpoints.push(cp), onProgress: (p) => progress.push(p.loaded) });
    expect(up).toMatchObject({ status: 'uploaded', size: bytes.length });
    expect(calls.filter((x) => x.part === '2').map((x) => x.outcome)).toEqual(['network', 'sent']);
    expect(calls.filter((x) => x.part === '3').map((x) => x.outcome)).toEqual(['500', 'sent']);
    expect(checkpoints.at(-1)!.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    expect(progress.at(-1)).toBe(bytes.length);
  });

  it('stops on a part the storage refuses, and resumes from the checkpoint sending only the missing parts', async () => {
    let refuse = true;
    const sent: string[] = [];
    const transport: Transport = async (r) => {
      const part = new URL(r.url).searchParams.get('part')!;
      if (part === '2' && refuse) return { status: 403, etag: null, body: 'signature does not match' };
      sent.push(part);
      return fetchTransport(r);
    };
    const files = createFiles(c, { transport, concurrency: 1 });
    let checkpoint: MultipartCheckpoint | undefined;
    const failed = await files.upload(blob(), { name: 'resume.bin', multipart: true, partSize: 5 * MiB, onCheckpoint: (cp) => (checkpoint = cp) }).catch((e: NselfError) => e);
    expect((failed as NselfError).code).toBe('files/upload-failed');
    expect(checkpoint!.parts.map((p) => p.partNumber)).toEqual([1]);
    refuse = false;
    sent.length = 0;
    const up = await files.upload(blob(), { name: 'resume.bin', resume: checkpoint! });
    expect(sent.sort()).toEqual(['2', '3']);
    expect(up).toMatchObject({ id: checkpoint!.id, status: 'uploaded', size: bytes.length });
  });
});
