/**
 * Cancelling a running job from any process. BullMQ can only abort a job inside the worker that holds it,
 * so a cancel request is broadcast with PostgreSQL NOTIFY (the suite always has PostgreSQL, whichever queue
 * backend runs) and every worker process aborts the job if it is running it.
 */
import pg from 'pg';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Queryable } from '../../../core/plugin.js';

export const CANCEL_CHANNEL = 'nself_jobs_cancel';

export class JobCancelledError extends Error {
  override name = 'UnrecoverableError';
  constructor(readonly reason: string) {
    super(`cancelled: ${reason}`);
  }
}

export async function publishCancel(db: Queryable, queue: string, jobId: string, reason: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [CANCEL_CHANNEL, JSON.stringify({ queue, jobId, reason: reason.slice(0, 500) })]);
}

type Abort = (reason: string) => void;

export class CancelListener {
  private readonly running = new Map<string, Abort>();
  private client: pg.Client | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  /** Registers a running job; returns the function that unregisters it. */
  watch(queue: string, jobId: string, abort: Abort): () => void {
    const key = `${queue}\u0000${jobId}`;
    this.running.set(key, abort);
    return () => {
      if (this.running.get(key) === abort) this.running.delete(key);
    };
  }

  /** Aborts a job running in this process; true when it was found. */
  cancelLocal(queue: string, jobId: string, reason: string): boolean {
    const abort = this.running.get(`${queue}\u0000${jobId}`);
    abort?.(reason);
    return !!abort;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    // A dedicated connection: LISTEN holds it for the process's lifetime, which a pooled client must not.
    const client = new pg.Client(this.pool.options);
    client.on('notification', (msg) => {
      try {
        const { queue, jobId, reason } = JSON.parse(msg.payload ?? '{}') as { queue: string; jobId: string; reason: string };
        if (this.cancelLocal(queue, jobId, reason)) this.log.info({ queue, jobId, reason }, 'job cancelled');
      } catch (e) {
        this.log.warn({ err: e }, 'ignoring malformed job cancel notification');
      }
    });
    client.on('error', (err) => {
      this.log.warn({ err }, 'job cancel listener lost its connection; reconnecting');
      this.reconnectSoon(client);
    });
    client.on('end', () => this.reconnectSoon(client));
    await client.connect();
    await client.query(`LISTEN ${CANCEL_CHANNEL}`);
    this.client = client;
  }

  private reconnectSoon(dead: pg.Client): void {
    if (this.closed || this.client !== dead || this.retry) return;
    this.client = null;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.connect().catch((err) => {
        this.log.warn({ err }, 'job cancel listener could not reconnect');
        this.client = dead;
        this.reconnectSoon(dead);
      });
    }, 1000);
    this.retry.unref();
  }
}
