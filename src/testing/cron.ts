/**
 * Cron triggers: events in `hdb_catalog.hdb_cron_events`, claimed with Hasura's lock query, delivered with the
 * scheduled-event payload and the cron retry_conf (its own key names), tolerance checked before delivery
 * (reference/hasura.md §3). Occurrences come from the 5-field schedule evaluated in UTC.
 */
import { CronExpressionParser } from 'cron-parser';
import type pg from 'pg';
import type { HarnessClock } from './clock.js';
import { decide, defaultHeaders, invocationRequest, invocationResponse } from './delivery.js';
import { HarnessConfigError, HasuraError } from './errors.js';
import type { HeaderList, HttpClient } from './http.js';
import { sortedJson } from './json.js';
import type { CronMeta } from './metadata.js';
import { Sleeper } from './sleeper.js';

export interface ResolvedCron {
  name: string;
  meta: CronMeta;
  url: string;
  headers: HeaderList;
  numRetries: number;
  retryIntervalSec: number;
  timeoutSec: number;
  toleranceSec: number;
}

export type CronEventStatus = 'scheduled' | 'locked' | 'delivered' | 'error' | 'dead';

export interface CronEventState {
  id: string;
  name: string;
  scheduledTime: Date;
  status: CronEventStatus;
  tries: number;
  nextRetryAt: Date | null;
}

interface CronRow {
  id: string;
  trigger_name: string;
  scheduled_time: Date;
  status: CronEventStatus;
  tries: number;
  next_retry_at: Date | null;
}

/** aeson's UTCTime: seconds, then a fraction only when non-zero (trailing zeros dropped), then `Z`. */
export function formatUtc(d: Date): string {
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_, f: string) => (f ? `.${f}Z` : 'Z'));
}

/** Parses a Hasura cron schedule: exactly five fields, UTC. */
export function parseSchedule(schedule: string, what: string) {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) throw new HarnessConfigError(`${what}: schedule "${schedule}" must have exactly 5 fields`);
  try {
    CronExpressionParser.parse(schedule, { tz: 'UTC' });
  } catch (e) {
    throw new HarnessConfigError(`${what}: invalid schedule "${schedule}": ${(e as Error).message}`);
  }
  return (from: Date) => CronExpressionParser.parse(schedule, { currentDate: from, tz: 'UTC' });
}

/** The next `count` fire times of `schedule` strictly after `from`. */
export function nextFireTimes(schedule: string, from: Date, count: number): Date[] {
  const it = parseSchedule(schedule, 'cron')(from);
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().toDate());
  return out;
}

/** Fire times in (from, to], in order. */
export function fireTimesBetween(schedule: string, from: Date, to: Date, limit: number): Date[] {
  const it = parseSchedule(schedule, 'cron')(from);
  const out: Date[] = [];
  for (;;) {
    const d = it.next().toDate();
    if (d.getTime() > to.getTime()) return out;
    out.push(d);
    if (out.length > limit) throw new HarnessConfigError(`more than ${limit} occurrences of "${schedule}" before ${to.toISOString()}`);
  }
}

const LOCK_DUE_SQL = `
UPDATE hdb_catalog.hdb_cron_events SET status = 'locked'
WHERE id IN (SELECT t.id FROM hdb_catalog.hdb_cron_events t
             WHERE t.status = 'scheduled'
               AND ((t.next_retry_at IS NULL AND t.scheduled_time <= $1::timestamptz)
                 OR (t.next_retry_at IS NOT NULL AND t.next_retry_at <= $1::timestamptz))
               AND t.trigger_name = ANY($2)
             FOR UPDATE SKIP LOCKED)
RETURNING id, trigger_name, scheduled_time, status, tries, next_retry_at`;

const RECORD_SQL = `
WITH inv AS (
  INSERT INTO hdb_catalog.hdb_cron_event_invocation_logs (event_id, status, request, response)
  VALUES ($1, $2, $3, $4)
)
UPDATE hdb_catalog.hdb_cron_events
   SET tries = tries + 1,
       status = CASE $5 WHEN 'success' THEN 'delivered' WHEN 'error' THEN 'error' ELSE 'scheduled' END,
       next_retry_at = CASE WHEN $5 = 'retry' THEN $6::timestamptz END
 WHERE id = $1`;

export class CronProcessor {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly sleeper = new Sleeper();
  private active = 0;
  /** Claims and deliveries run one pass at a time, so `advanceClock` sees each occurrence settled before the next. */
  private exclusive: Promise<unknown> = Promise.resolve();
  readonly names: string[];

  constructor(
    private readonly pool: pg.Pool,
    readonly crons: ReadonlyMap<string, ResolvedCron>,
    private readonly clock: HarnessClock,
    private readonly http: HttpClient,
    private readonly opts: { fetchIntervalMs: number; hasuraVersion: string; onError(e: unknown): void },
  ) {
    this.names = [...crons.keys()];
  }

  start(): void {
    if (this.running || this.names.length === 0) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const n = await this.processDue().catch((e) => (this.opts.onError(e), 0));
        if (n === 0) await this.sleeper.sleep(this.opts.fetchIntervalMs);
      }
    })();
  }

  wake(): void {
    this.sleeper.wake();
  }

  /** Changes whenever a pass starts or ends. */
  epoch = 0;

  busy(): boolean {
    return this.active > 0;
  }

  get(name: string): ResolvedCron {
    const c = this.crons.get(name);
    if (!c) throw new HasuraError(`cron trigger with name: ${name} does not exist`, 'not-exists');
    return c;
  }

  /** Inserts the event for `name` at `scheduledTime` (the generator's ON CONFLICT DO NOTHING) and returns its id. */
  async schedule(name: string, scheduledTime: Date): Promise<string> {
    this.get(name);
    const ins = await this.pool.query<{ id: string }>(
      `INSERT INTO hdb_catalog.hdb_cron_events (trigger_name, scheduled_time) VALUES ($1, $2)
       ON CONFLICT (trigger_name, scheduled_time) WHERE status = 'scheduled' DO NOTHING RETURNING id`,
      [name, scheduledTime.toISOString()],
    );
    if (ins.rows[0]) return ins.rows[0].id;
    const existing = await this.pool.query<{ id: string }>(
      `SELECT id FROM hdb_catalog.hdb_cron_events WHERE trigger_name = $1 AND scheduled_time = $2 AND status = 'scheduled'`,
      [name, scheduledTime.toISOString()],
    );
    return existing.rows[0]!.id;
  }

  /** Claims every due event (new or retry) and delivers them concurrently; resolves with how many were handled. */
  processDue(): Promise<number> {
    return this.serial(() => this.claimAndDeliver());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    this.epoch++;
    const run = this.exclusive.then(fn, fn);
    this.exclusive = run.catch(() => undefined);
    return run.finally(() => {
      this.active--;
      this.epoch++;
    });
  }

  private async claimAndDeliver(): Promise<number> {
    this.active++;
    try {
      const res = await this.pool.query<CronRow>(LOCK_DUE_SQL, [this.clock.now().toISOString(), this.names]);
      await Promise.all(res.rows.map((r) => this.deliver(r)));
      return res.rows.length;
    } finally {
      this.active--;
    }
  }

  /** Delivers one event now, whatever its scheduled time (used by `fireCron`). */
  processOne(id: string): Promise<void> {
    return this.serial(() => this.deliverOne(id));
  }

  private async deliverOne(id: string): Promise<void> {
    this.active++;
    try {
      const res = await this.pool.query<CronRow>(
        `UPDATE hdb_catalog.hdb_cron_events SET status = 'locked' WHERE id = $1 AND status = 'scheduled'
         RETURNING id, trigger_name, scheduled_time, status, tries, next_retry_at`,
        [id],
      );
      if (res.rows[0]) await this.deliver(res.rows[0]);
    } finally {
      this.active--;
    }
  }

  private async deliver(row: CronRow): Promise<void> {
    const c = this.crons.get(row.trigger_name)!;
    const now = this.clock.now();
    // Tolerance: an event found too long after its scheduled time is marked dead, never delivered.
    if (now.getTime() - row.scheduled_time.getTime() > c.toleranceSec * 1000) {
      await this.pool.query(`UPDATE hdb_catalog.hdb_cron_events SET status = 'dead' WHERE id = $1`, [row.id]);
      return;
    }
    const payload: Record<string, unknown> = {
      id: row.id,
      name: c.name,
      scheduled_time: formatUtc(row.scheduled_time),
      payload: c.meta.payload ?? null,
    };
    if (c.meta.comment !== undefined && c.meta.comment !== null) payload.comment = c.meta.comment;
    const version = this.opts.hasuraVersion;
    const result = await this.http.post(c.url, [...c.headers, ...defaultHeaders(version)], sortedJson(payload), c.timeoutSec * 1000);
    const outcome = decide(result, row.tries, c.numRetries, c.retryIntervalSec);
    const { status, response } = invocationResponse(result, '1', c.url);
    const retryAt = outcome.kind === 'retry' ? new Date(this.clock.now().getTime() + outcome.delaySeconds * 1000).toISOString() : null;
    await this.pool.query(RECORD_SQL, [
      row.id,
      status,
      JSON.stringify(invocationRequest(payload, '1', version, c.meta.headers)),
      JSON.stringify(response),
      outcome.kind,
      retryAt,
    ]);
  }

  async state(id: string): Promise<CronEventState | undefined> {
    const r = await this.pool.query<CronRow>(
      `SELECT id, trigger_name, scheduled_time, status, tries, next_retry_at FROM hdb_catalog.hdb_cron_events WHERE id = $1`,
      [id],
    );
    const row = r.rows[0];
    return row && { id: row.id, name: row.trigger_name, scheduledTime: row.scheduled_time, status: row.status, tries: row.tries, nextRetryAt: row.next_retry_at };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sleeper.wake();
    await this.loop;
    while (this.active > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
