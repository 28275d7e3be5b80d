/**
 * `jobs.dead_letter`: the durable record of jobs that failed for good (attempts exhausted, unrecoverable,
 * cancelled, timed out). BullMQ's failed set is the live dead-letter set but is trimmed by age and count so
 * Redis stays bounded; this table keeps the history queryable through Hasura and lets `jobsRetry` redrive a
 * job after BullMQ has forgotten it.
 */
import type { Job } from 'bullmq';
import type { Queryable } from '../../../core/plugin.js';

export interface DeadLetter {
  id: string;
  queue: string;
  jobId: string;
  name: string;
  data: unknown;
  failedReason: string;
  attemptsMade: number;
  failedAt: Date;
  redrivenAt: Date | null;
}

/** Idempotent per (queue, job id, failure time): a failure seen twice (two listeners, a replay) is one row. */
export async function recordDeadLetter(db: Queryable, queue: string, job: Job): Promise<void> {
  await db.query(
    `INSERT INTO jobs.dead_letter (queue, job_id, name, data, failed_reason, stacktrace, attempts_made, created_at, failed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0), to_timestamp($9 / 1000.0))
     ON CONFLICT (queue, job_id, failed_at) DO NOTHING`,
    [
      queue,
      job.id,
      job.name,
      JSON.stringify(job.data ?? null),
      job.failedReason ?? 'unknown',
      JSON.stringify(job.stacktrace ?? []),
      job.attemptsMade,
      job.timestamp,
      job.finishedOn ?? Date.now(),
    ],
  );
}

export async function latestDeadLetter(db: Queryable, queue: string, jobId: string): Promise<DeadLetter | null> {
  const r = await db.query<{
    id: string;
    queue: string;
    job_id: string;
    name: string;
    data: unknown;
    failed_reason: string;
    attempts_made: number;
    failed_at: Date;
    redriven_at: Date | null;
  }>(
    `SELECT id::text, queue, job_id, name, data, failed_reason, attempts_made, failed_at, redriven_at
       FROM jobs.dead_letter WHERE queue = $1 AND job_id = $2 ORDER BY failed_at DESC LIMIT 1`,
    [queue, jobId],
  );
  const row = r.rows[0];
  if (!row) return null;
  return {
    id: row.id,
    queue: row.queue,
    jobId: row.job_id,
    name: row.name,
    data: row.data,
    failedReason: row.failed_reason,
    attemptsMade: row.attempts_made,
    failedAt: row.failed_at,
    redrivenAt: row.redriven_at,
  };
}

export async function markRedriven(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE jobs.dead_letter SET redriven_at = now() WHERE id = $1::bigint AND redriven_at IS NULL`, [id]);
}

/** Deletes rows older than `days` (0: keep by age) and beyond the newest `maxRows` (0: no cap). */
export async function pruneDeadLetters(db: Queryable, days: number, maxRows: number): Promise<{ byAge: number; byCount: number }> {
  let byAge = 0;
  let byCount = 0;
  if (days > 0) {
    const r = await db.query(`DELETE FROM jobs.dead_letter WHERE failed_at < now() - make_interval(days => $1)`, [days]);
    byAge = r.rowCount ?? 0;
  }
  if (maxRows > 0) {
    const r = await db.query(
      `DELETE FROM jobs.dead_letter WHERE id IN (
         SELECT id FROM jobs.dead_letter ORDER BY failed_at DESC, id DESC OFFSET $1)`,
      [maxRows],
    );
    byCount = r.rowCount ?? 0;
  }
  return { byAge, byCount };
}

/**
 * A job taken out of a queue by a repair, kept as a dead letter so that its data is not lost; retried like
 * any other (under a new id when its old one is refused).
 */
export async function recordRemovedJob(db: Queryable, queue: string, job: { id: string; fields: Record<string, string> }, reason: string): Promise<void> {
  const f = job.fields;
  let data: unknown = f.data ?? null;
  try {
    data = JSON.parse(f.data ?? 'null');
  } catch {
    /* kept as the text it was */
  }
  const created = Number(f.timestamp);
  await db.query(
    `INSERT INTO jobs.dead_letter (queue, job_id, name, data, failed_reason, stacktrace, attempts_made, created_at, failed_at)
     VALUES ($1, $2, $3, $4, $5, '[]', $6, to_timestamp($7 / 1000.0), now())
     ON CONFLICT (queue, job_id, failed_at) DO NOTHING`,
    [queue, job.id, f.name ?? 'unknown', JSON.stringify(data), reason, Number(f.attemptsMade ?? 0) || 0, Number.isFinite(created) ? created : Date.now()],
  );
}
