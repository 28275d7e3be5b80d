/**
 * Runs a media tool (ffmpeg, ffprobe, pdftoppm, pdfinfo) without a shell, with a time limit, an abort
 * signal and a cap on what it may print, and reports a missing binary clearly.
 */
import { spawn } from 'node:child_process';
import { ProcessingRefused } from './refused.js';

export class ToolMissing extends Error {
  override name = 'ToolMissing';
}

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Most stdout bytes kept; more fails the run (a tool flooding output is not what we asked for). */
  maxOutput?: number;
}

export function run(binary: string, args: readonly string[], o: RunOptions): Promise<Buffer> {
  const max = o.maxOutput ?? 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let failure: Error | undefined;
    const stop = (e: Error) => {
      failure ??= e;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new ProcessingRefused(`${binary} took longer than ${o.timeoutMs} ms`)), o.timeoutMs);
    const onAbort = () => stop(o.signal!.reason instanceof Error ? o.signal!.reason : new Error('aborted'));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > max) return stop(new ProcessingRefused(`${binary} printed more than ${max} bytes`));
      out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? new ToolMissing(`${binary} is not installed (or not on PATH)`) : e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new ProcessingRefused(`${binary} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ').slice(0, 500)}`));
      resolve(Buffer.concat(out, size));
    });
  });
}
