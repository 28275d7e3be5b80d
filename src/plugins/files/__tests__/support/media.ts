/** Test media made on the spot: images (sharp), videos (ffmpeg), PDFs (written by hand), hostile files. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { which } from './clamd.js';

export async function jpeg(width: number, height: number, opts: { orientation?: number; gps?: boolean } = {}): Promise<Buffer> {
  let img = sharp({ create: { width, height, channels: 3, background: { r: 40, g: 120, b: 200 } } }).composite([
    { input: { create: { width: Math.max(1, width >> 1), height: Math.max(1, height >> 1), channels: 3, background: { r: 250, g: 200, b: 20 } } }, left: 0, top: 0 },
  ]);
  if (opts.orientation || opts.gps) {
    img = img.withMetadata({
      ...(opts.orientation ? { orientation: opts.orientation } : {}),
      ...(opts.gps ? { exif: { IFD0: { Copyright: 'secret-owner', ImageDescription: 'taken at home' } } } : {}),
    });
  }
  return img.jpeg({ quality: 90 }).toBuffer();
}

export async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 10, g: 200, b: 90, alpha: 1 } } }).png().toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header declaring `side`×`side` pixels with a small, highly compressed body: a decompression bomb. */
export function pngBomb(side = 100_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(2 * 1024 * 1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG signature and header followed by garbage. */
export async function corruptPng(): Promise<Buffer> {
  const good = await png(64, 64);
  const bad = Buffer.from(good);
  for (let i = 60; i < bad.length - 12; i++) bad[i] = (bad[i]! * 31 + 7) & 0xff;
  return bad;
}

/** The start of an ELF executable (x86-64), padded. */
export function elf(size = 4096): Buffer {
  const b = Buffer.alloc(size);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(b);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // x86-64
  return b;
}

/** A `seconds`-long H.264 test pattern of `width`×`height`, made by ffmpeg. */
export function mp4(seconds = 3, width = 320, height = 240): Buffer {
  const ffmpeg = which('ffmpeg');
  const dir = mkdtempSync(join(tmpdir(), 'files-mp4-'));
  try {
    const out = join(dir, 'v.mp4');
    const r = spawnSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=duration=${seconds}:size=${width}x${height}:rate=10`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
    if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PDF of `pages` A4-ish pages, each with a coloured rectangle (no fonts needed), with a correct xref. */
export function pdf(pages = 3): Buffer {
  const objects: string[] = [];
  const add = (body: string) => objects.push(body);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  const kids = Array.from({ length: pages }, (_, i) => `${3 + i * 2} 0 R`).join(' ');
  add(`<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`);
  for (let i = 0; i < pages; i++) {
    add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents ${4 + i * 2} 0 R /Resources << >> >>`);
    const stream = `0.${(i % 9) + 1} 0.4 0.8 rg 50 50 ${200 + i * 10} 300 re f`;
    add(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  }
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
