/**
 * Cancelling a running job from any process. BullMQ can only abort a job inside the worker that holds it,
 * so a cancel request is broadcast with PostgreSQL NOTIFY (the suite always has PostgreSQL, whichever queue
 * backend runs) and every worker process aborts the job if it is running it. On the PostgreSQL queue backend
 * the broadcast rides on the queues' own LISTEN connection (`QueueProvider.notifications`), so cancelling
 * costs no connection of its own; on Redis it has one.
 */
import pg from 'pg';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Queryable } from '../../../core/plugin.js';
import type { QueueNotifications } from '../../../core/queue-types.js';

export const CANCEL_CHANNEL = 'nself_jobs_cancel';

export class JobCancelledError extends Error {
  override name = 'UnrecoverableError';
  constructor(readonly reason: string) {
    super(`cancelled: ${reason}`);
  }
}

/** Sent where the listeners listen: on the queues' notifications when there are any, else on the database. */
export async function publishCancel(db: Queryable, notifications: QueueNotifications | undefined, queue: string, jobId: string, reason: string): Promise<void> {
  const payload = JSON.stringify({ queue, jobId, reason: reason.slice(0, 500) });
  if (notifications) await notifications.notify(CANCEL_CHANNEL, payload);
  else await db.query('SELECT pg_notify($1, $2)', [CANCEL_CHANNEL, payload]);
}

/** A running attempt as the cancel bus sees it. */
export interface Abortable {
  abort(reason: Error): void;
}

export class CancelListener {
  /** Per queue, the attempts running in this process by job id (the map is owned and kept by the queue's processor). */
  private readonly queues = new Map<string, ReadonlyMap<string, Abortable>>();
  private client: pg.Client | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly notifications?: QueueNotifications,
  ) {}

  async start(): Promise<void> {
    if (this.notifications) this.unlisten = await this.notifications.listen(CANCEL_CHANNEL, (payload) => this.onPayload(payload));
    else await this.connect();
  }

  /** Makes a queue's running attempts cancellable; once per worker, so an attempt adds no work here. */
  track(queue: string, running: ReadonlyMap<string, Abortable>): void {
    this.queues.set(queue, running);
  }

  /** Aborts a job running in this process; true when it was found. */
  cancelLocal(queue: string, jobId: string, reason: string): boolean {
    const attempt = this.queues.get(queue)?.get(jobId);
    attempt?.abort(new JobCancelledError(reason));
    return !!attempt;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unlisten?.();
    this.unlisten = null;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    // A dedicated connection: LISTEN holds it for the process's lifetime, which a pooled client must not.
    const client = new pg.Client(this.pool.options);
    client.on('notification', (msg) => this.onPayload(msg.payload ?? '{}'));
    client.on('error', (err) => {
      this.log.warn({ err }, 'job cancel listener lost its connection; reconnecting');
      this.reconnectSoon(client);
    });
    client.on('end', () => this.reconnectSoon(client));
    await client.connect();
    await client.query(`LISTEN ${CANCEL_CHANNEL}`);
    this.client = client;
  }

  private onPayload(payload: string): void {
    try {
      const { queue, jobId, reason } = JSON.parse(payload) as { queue: string; jobId: string; reason: string };
      if (this.cancelLocal(queue, jobId, reason)) this.log.info({ queue, jobId, reason }, 'job cancelled');
    } catch (e) {
      this.log.warn({ err: e }, 'ignoring malformed job cancel notification');
    }
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
