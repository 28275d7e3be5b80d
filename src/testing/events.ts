/**
 * The event-trigger processor: Hasura's `processEventQueue` loop against `hdb_catalog.event_log`.
 * Fetch a batch with the lock query, deliver it through a bounded HTTP pool while the next batch is prefetched,
 * record each result in one statement, and sleep only when a fetch comes back empty.
 */
import pg from 'pg';
import type { HarnessClock } from './clock.js';
import { decide, defaultHeaders, invocationRequest, invocationResponse } from './delivery.js';
import type { HeaderList, HttpClient } from './http.js';
import { sortedJson } from './json.js';
import type { EventTriggerMeta, QualifiedTable } from './metadata.js';
import { FETCH_EVENTS_SQL } from './sql.js';
import { Sleeper } from './sleeper.js';

export interface ResolvedEventTrigger {
  name: string;
  table: QualifiedTable;
  meta: EventTriggerMeta;
  url: string;
  headers: HeaderList;
  numRetries: number;
  intervalSec: number;
  timeoutSec: number;
}

export interface EventProcessorOptions {
  fetchBatchSize: number;
  httpPoolSize: number;
  fetchIntervalMs: number;
  hasuraVersion: string;
  onError(e: unknown): void;
}

interface FetchedEvent {
  id: string;
  schema_name: string;
  table_name: string;
  trigger_name: string;
  payload: Record<string, unknown>;
  tries: number;
  created_at: string;
}

/** `timestamp` columns come back as text so microseconds survive (JS dates keep milliseconds only). */
const RAW_TIMESTAMPS = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 1114 || oid === 1184) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * aeson's text of a PostgreSQL timestamp read back as Haskell time: ISO-8601 with `T`, the fraction as stored
 * minus trailing zeros (none when zero), and `Z` for a `UTCTime`, nothing for a `LocalTime`.
 */
function aesonTime(text: string, zone: 'Z' | ''): string {
  const [date, time = '00:00:00'] = text.trim().split(/[ T]/);
  const clean = time.replace(/([+-]\d{2}(:?\d{2})?|Z)$/, '');
  const [hms, frac] = clean.split('.');
  const f = (frac ?? '').replace(/0+$/, '');
  return `${date}T${hms}${f ? '.' + f : ''}${zone}`;
}

/**
 * An event's `created_at`: `event_log.created_at` is a `timestamp` (no zone) written by `now()`, and today's
 * Hasura encodes it as a `LocalTime` (Eventing/EventTrigger.hs, `EventPayload.epCreatedAt :: LocalTime`),
 * so the payload carries no zone: `2023-05-01T12:34:56.123456`. (Older Hasura decoded it as `UTCTime` and
 * added a `Z`, as in the 2022 capture in reference/hasura.md §2.1.) Handlers read it as UTC.
 */
export function formatEventCreatedAt(text: string): string {
  return aesonTime(text, '');
}

/** A `timestamptz` Hasura decodes as `UTCTime` and encodes itself (an async action's `created_at`): `…Z`. */
export function formatUtcTimestamp(utcText: string): string {
  return aesonTime(utcText, 'Z');
}

/**
 * Hasura writes each result (invocation log + event_log update) in its own transaction. The harness writes the
 * results that finish together in one statement: same rows, same values, one round trip instead of dozens,
 * so that under load the bookkeeping never becomes the bottleneck a test or benchmark measures.
 */
const RECORD_SQL = `
WITH r AS (
  SELECT * FROM json_to_recordset($1::json)
    AS r(id text, trigger_name text, status int, request json, response json, outcome text, retry_at timestamptz)
), inv AS (
  INSERT INTO hdb_catalog.event_invocation_logs (event_id, trigger_name, status, request, response)
  SELECT id, trigger_name, status, request, response FROM r
)
UPDATE hdb_catalog.event_log e
   SET tries = e.tries + 1,
       delivered = e.delivered OR r.outcome = 'success',
       error = e.error OR r.outcome = 'error',
       next_retry_at = CASE WHEN r.outcome = 'retry' THEN (r.retry_at AT TIME ZONE 'UTC') END,
       locked = NULL
  FROM r
 WHERE e.id = r.id`;

interface Result {
  row: {
    id: string;
    trigger_name: string;
    status: number | null;
    request: unknown;
    response: unknown;
    outcome: string;
    retry_at: string | null;
  };
  done: { resolve(): void; reject(e: unknown): void };
}

/** Collects results and writes them in batches: at most `max` per statement, flushed on the next turn of the loop. */
class ResultWriter {
  private queue: Result[] = [];
  private scheduled = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly max: number,
  ) {}

  write(row: Result['row']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, done: { resolve, reject } });
      if (this.queue.length >= this.max) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.max);
      this.pool
        .query({
          name: 'hdb-record-events',
          text: RECORD_SQL,
          values: [JSON.stringify(batch.map((b) => b.row))],
        })
        .then(
          () => batch.forEach((b) => b.done.resolve()),
          (e) => batch.forEach((b) => b.done.reject(e)),
        );
    }
  }
}

export class EventProcessor {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly sleeper = new Sleeper();
  private inflight = 0;
  private fetching = 0;
  /** Events this process locked and has not finished (in flight or waiting for a slot). */
  private readonly held = new Set<string>();
  private readonly slotWaiters: (() => void)[] = [];
  private readonly writer: ResultWriter;
  readonly names: string[];

  constructor(
    private readonly pool: pg.Pool,
    private readonly triggers: ReadonlyMap<string, ResolvedEventTrigger>,
    private readonly clock: HarnessClock,
    private readonly http: HttpClient,
    private readonly opts: EventProcessorOptions,
  ) {
    this.names = [...triggers.keys()];
    this.writer = new ResultWriter(pool, opts.fetchBatchSize);
  }

  start(): void {
    if (this.running || this.names.length === 0) return;
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.sleeper.wake();
  }

  /** Changes whenever a fetch starts or ends or a result is written, so a caller can tell a quiet moment from a race. */
  epoch = 0;

  /** True while this process holds, fetches or delivers any event. */
  busy(): boolean {
    return this.fetching > 0 || this.held.size > 0;
  }

  private async run(): Promise<void> {
    let batch = await this.fetch();
    while (this.running) {
      if (batch.length === 0) await this.sleeper.sleep(this.opts.fetchIntervalMs);
      if (!this.running) break;
      // Prefetch the next batch while this one is delivered, as Hasura does, so workers never wait on the DB.
      const next = this.fetch();
      let i = 0;
      for (; i < batch.length; i++) {
        await this.acquireSlot();
        if (!this.running) {
          this.releaseSlot();
          break;
        }
        const ev = batch[i]!;
        // The slot stands for an HTTP worker: it frees when the response is in, while the result is still being
        // written. The event stays held (and locked in the database) until that write is done.
        let released = false;
        const release = () => {
          if (!released) {
            released = true;
            this.releaseSlot();
          }
        };
        void this.deliver(ev, release).finally(() => {
          this.held.delete(ev.id);
          this.epoch++;
          release();
        });
      }
      const leftover = batch.slice(i);
      batch = await next;
      if (!this.running) await this.unlock([...leftover, ...batch]);
    }
  }

  private async fetch(): Promise<FetchedEvent[]> {
    this.fetching++;
    this.epoch++;
    try {
      const res = await this.pool.query<FetchedEvent>({
        name: 'hdb-fetch-events',
        text: FETCH_EVENTS_SQL,
        values: [this.opts.fetchBatchSize, this.names, this.clock.now().toISOString()],
        types: RAW_TIMESTAMPS,
      });
      for (const r of res.rows) this.held.add(r.id);
      return res.rows;
    } catch (e) {
      if (this.running) this.opts.onError(e);
      return [];
    } finally {
      this.fetching--;
      this.epoch++;
    }
  }

  private acquireSlot(): Promise<void> {
    if (this.inflight < this.opts.httpPoolSize) {
      this.inflight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(() => (this.inflight++, resolve())));
  }

  private releaseSlot(): void {
    this.inflight--;
    this.slotWaiters.shift()?.();
  }

  /** Builds Hasura's payload; `current_retry` is the number of earlier attempts (`tries`). */
  private payloadFor(ev: FetchedEvent, t: ResolvedEventTrigger): Record<string, unknown> {
    return {
      id: ev.id,
      table: { schema: ev.schema_name, name: ev.table_name },
      trigger: { name: ev.trigger_name },
      event: ev.payload,
      delivery_info: { max_retries: t.numRetries, current_retry: ev.tries },
      created_at: formatEventCreatedAt(ev.created_at),
    };
  }

  private async deliver(ev: FetchedEvent, httpDone: () => void): Promise<void> {
    const t = this.triggers.get(ev.trigger_name)!;
    try {
      const payload = this.payloadFor(ev, t);
      const version = this.opts.hasuraVersion;
      const result = await this.http.post(t.url, [...t.headers, ...defaultHeaders(version)], sortedJson(payload), t.timeoutSec * 1000);
      httpDone();
      const outcome = decide(result, ev.tries, t.numRetries, t.intervalSec);
      const { status, response } = invocationResponse(result, '2', t.url);
      const retryAt = outcome.kind === 'retry' ? new Date(this.clock.now().getTime() + outcome.delaySeconds * 1000).toISOString() : null;
      await this.writer.write({
        id: ev.id,
        trigger_name: ev.trigger_name,
        status,
        request: invocationRequest(payload, '2', version, t.meta.headers),
        response,
        outcome: outcome.kind,
        retry_at: retryAt,
      });
    } catch (e) {
      this.opts.onError(e);
    }
  }

  /** Graceful shutdown: events we locked but never sent become fetchable again at once. */
  private async unlock(events: FetchedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const ids = events.map((e) => e.id);
    try {
      await this.pool.query(`UPDATE hdb_catalog.event_log SET locked = NULL WHERE id = ANY($1) AND locked IS NOT NULL`, [ids]);
    } catch (e) {
      this.opts.onError(e);
    }
    for (const id of ids) this.held.delete(id);
  }

  /** Stops fetching, lets in-flight deliveries finish and unlocks what was fetched but not sent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sleeper.wake();
    // wake loop iterations blocked on a slot so they notice the stop
    while (this.slotWaiters.length) this.slotWaiters.shift()!();
    await this.loop;
    while (this.inflight > 0 || this.held.size > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
