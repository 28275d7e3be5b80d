/**
 * A clamd client speaking its `INSTREAM` protocol over TCP or a Unix socket: the bytes stream from storage
 * to clamd in length-prefixed chunks, so a file is scanned without touching our disk or memory whole.
 *
 *   → "zINSTREAM\0", then (uint32 BE length + bytes)*, then uint32 0
 *   ← "stream: OK\0" | "stream: <signature> FOUND\0" | "<reason> ERROR\0"
 *
 * clamd answers "INSTREAM size limit exceeded. ERROR" and closes the connection as soon as a stream passes
 * its StreamMaxLength, possibly while we are still writing: the answer is read whatever happens to writes.
 */
import net from 'node:net';
import type { Readable } from 'node:stream';

export interface ClamdOptions {
  /** Unix socket path; else host and port. */
  socket?: string | undefined;
  host?: string;
  port?: number;
  timeoutMs: number;
}

export type ScanVerdict = { clean: true } | { clean: false; signature: string };

/** clamd could not be reached or did not answer in time: worth retrying. */
export class ClamdUnavailable extends Error {
  override name = 'ClamdUnavailable';
}

/** clamd answered with an error (size limit, bad command): retrying the same stream will not help. */
export class ClamdError extends Error {
  override name = 'ClamdError';
}

const CHUNK = 64 * 1024;

export class ClamdClient {
  constructor(readonly options: ClamdOptions) {}

  get address(): string {
    return this.options.socket ?? `${this.options.host ?? '127.0.0.1'}:${this.options.port ?? 3310}`;
  }

  #connect(): net.Socket {
    const o = this.options;
    return o.socket ? net.connect({ path: o.socket }) : net.connect({ host: o.host ?? '127.0.0.1', port: o.port ?? 3310 });
  }

  /** Sends one command and reads the NUL-terminated reply; `feed` writes any payload after the command. */
  #exchange(command: string, feed?: (socket: net.Socket) => Promise<void>, signal?: AbortSignal): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = this.#connect();
      let reply = '';
      let settled = false;
      let connected = false;
      const finish = (err: Error | null, value?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => finish(new ClamdUnavailable(`clamd at ${this.address} did not answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      const onAbort = () => finish(signal!.reason instanceof Error ? signal!.reason : new ClamdUnavailable('scan aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        reply += d;
        const end = reply.indexOf('\0');
        if (end !== -1) finish(null, reply.slice(0, end));
      });
      socket.on('end', () => {
        if (reply) finish(null, reply.replace(/\0$/, ''));
        else finish(new ClamdUnavailable(`clamd at ${this.address} closed the connection without an answer`));
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        // A write refused after clamd gave up on a too-long stream: its answer is on the way (or read already).
        if (connected && (e.code === 'EPIPE' || e.code === 'ECONNRESET') && reply) return finish(null, reply.replace(/\0$/, ''));
        if (connected && (e.code === 'EPIPE' || e.code === 'ECONNRESET')) return;
        finish(new ClamdUnavailable(`clamd at ${this.address}: ${e.message}`));
      });
      socket.on('connect', () => {
        connected = true;
        socket.write(`z${command}\0`);
        if (!feed) return;
        feed(socket).catch((e: Error) => finish(e instanceof ClamdUnavailable || e instanceof ClamdError ? e : new ClamdUnavailable(`reading the stream to scan failed: ${e.message}`)));
      });
    });
  }

  async ping(): Promise<void> {
    const r = await this.#exchange('PING');
    if (r.trim() !== 'PONG') throw new ClamdError(`unexpected PING answer ${JSON.stringify(r)}`);
  }

  async version(): Promise<string> {
    return (await this.#exchange('VERSION')).trim();
  }

  /** Scans a stream of bytes. */
  async scan(body: Readable | AsyncIterable<Buffer>, signal?: AbortSignal): Promise<ScanVerdict> {
    const reply = await this.#exchange(
      'INSTREAM',
      async (socket) => {
        const len = Buffer.alloc(4);
        for await (const data of body as AsyncIterable<Buffer>) {
          for (let off = 0; off < data.length; off += CHUNK) {
            if (socket.destroyed || !socket.writable) return;
            const part = data.subarray(off, Math.min(off + CHUNK, data.length));
            const header = Buffer.allocUnsafe(4);
            header.writeUInt32BE(part.length);
            socket.cork();
            socket.write(header);
            const ok = socket.write(part);
            socket.uncork();
            if (!ok) await drained(socket);
          }
        }
        if (!socket.destroyed && socket.writable) socket.write(len);
      },
      signal,
    );
    return parseReply(reply);
  }
}

function drained(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export function parseReply(reply: string): ScanVerdict {
  const text = reply.replace(/^stream:\s*/, '').trim();
  if (text === 'OK') return { clean: true };
  const found = /^(.+) FOUND$/.exec(text);
  if (found) return { clean: false, signature: found[1]! };
  if (/ERROR$/.test(text)) throw new ClamdError(`clamd: ${text}`);
  throw new ClamdError(`unexpected clamd answer ${JSON.stringify(reply)}`);
}
