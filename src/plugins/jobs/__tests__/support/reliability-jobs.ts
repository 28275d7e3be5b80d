/**
 * An idempotent job for the crash tests: it records each start (with the worker's pid), works for `ms`,
 * then records its completion. `rel_done` is keyed by job id (the idempotent effect); `rel_completions` is a
 * plain log, so a job run to completion twice would show up there.
 */
import { z } from 'zod';
import { definePlugin } from '../../../../core/plugin.js';
import type { Queryable } from '../../../../core/plugin.js';
import { defineJob } from '../../lib/define-job.js';

export const RELIABILITY_SQL = `
  CREATE TABLE IF NOT EXISTS rel_started (job_id text NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS rel_done (job_id text PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS rel_completions (job_id text NOT NULL, pid int NOT NULL);
`;

export const relWork = defineJob({
  name: 'rel.work',
  queue: 'rel.work',
  concurrency: 5,
  attempts: 5,
  backoff: 100,
  data: z.object({ ms: z.number().int().min(0) }),
  async handler(data, ctx) {
    await ctx.db.query('INSERT INTO rel_started (job_id, pid) VALUES ($1, $2)', [ctx.job.id, process.pid]);
    await new Promise((r) => setTimeout(r, data.ms));
    // One transaction: a reader that sees the job done also sees its completion logged.
    await ctx.db.tx(async (tx) => {
      const first = await tx.query('INSERT INTO rel_done (job_id) VALUES ($1) ON CONFLICT DO NOTHING', [ctx.job.id]);
      if (first.rowCount === 1) await tx.query('INSERT INTO rel_completions (job_id, pid) VALUES ($1, $2)', [ctx.job.id, process.pid]);
    });
    return { pid: process.pid };
  },
});

export const relPlugin = definePlugin({ name: 'rel', version: '0.0.0', description: 'crash-test jobs', jobs: [relWork] });

export async function counts(db: Queryable): Promise<{ started: number; done: number; completions: number; duplicates: number }> {
  const r = await db.query<{ started: number; done: number; completions: number; duplicates: number }>(`
    SELECT (SELECT count(*)::int FROM rel_started) AS started,
           (SELECT count(*)::int FROM rel_done) AS done,
           (SELECT count(*)::int FROM rel_completions) AS completions,
           (SELECT count(*)::int FROM (SELECT job_id FROM rel_completions GROUP BY job_id HAVING count(*) > 1) d) AS duplicates`);
  return r.rows[0]!;
}
