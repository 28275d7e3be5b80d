/**
 * Resumable backfill of one object type: pages of the API's list (newest first, `starting_after` the last id
 * stored), each page mirrored and the cursor moved in one transaction, so a crash or a 429 storm resumes after
 * the last committed page. A run is `done` only when the list said `has_more: false`; a failure leaves it
 * `retrying` (the job backs off and resumes) and, after the job's last attempt, `failed` — never `done`.
 */
import type Stripe from 'stripe';
import type { Logger } from 'pino';
import type { Db } from '../../../core/plugin.js';
import { stripeSdk } from './client.js';
import { mirrorPage, objectTypeByName, type StripeObject } from './objects.js';

export interface Checkpoint {
  object_type: string;
  run_id: string;
  status: 'running' | 'retrying' | 'done' | 'failed';
  cursor: string | null;
  synced: string;
  pages: string;
  last_error: string | null;
}

/** Starts (or restarts) a run per type: a type whose run is still going keeps its cursor. Returns the types to enqueue. */
export async function beginRuns(db: Db, types: string[], runId: string): Promise<Array<{ type: string; runId: string }>> {
  const out: Array<{ type: string; runId: string }> = [];
  for (const type of types) {
    const r = await db.query<{ run_id: string }>(
      `INSERT INTO stripe.sync_checkpoint (object_type, run_id, status) VALUES ($1, $2, 'running')
       ON CONFLICT (object_type) DO UPDATE SET
         run_id = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN excluded.run_id ELSE stripe.sync_checkpoint.run_id END,
         cursor = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN NULL ELSE stripe.sync_checkpoint.cursor END,
         synced = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN 0 ELSE stripe.sync_checkpoint.synced END,
         pages = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN 0 ELSE stripe.sync_checkpoint.pages END,
         started_at = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN now() ELSE stripe.sync_checkpoint.started_at END,
         finished_at = NULL, last_error = NULL,
         status = CASE WHEN stripe.sync_checkpoint.status IN ('done', 'failed') THEN 'running' ELSE stripe.sync_checkpoint.status END
       RETURNING run_id`,
      [type, runId],
    );
    // A finished run is started anew; a run still in progress is resumed under its own id.
    out.push({ type, runId: r.rows[0]!.run_id });
  }
  return out;
}

export interface BackfillDeps {
  db: Db;
  client: Stripe;
  log: Logger;
  pageSize: number;
  signal?: AbortSignal;
}

/** Whether waiting and trying again can help (rate limits, network trouble, Stripe's own 5xx). */
export function isTransient(e: unknown): boolean {
  // Stripe's error classes exist only once its SDK is loaded, which any API call has done.
  const errors = stripeSdk.loaded?.errors;
  return (
    (errors !== undefined &&
      (e instanceof errors.StripeRateLimitError || e instanceof errors.StripeConnectionError || e instanceof errors.StripeAPIError)) ||
    ((e as { statusCode?: number }).statusCode ?? 0) >= 500
  );
}

/** Runs (or resumes) the backfill of `type` for `runId`; returns the checkpoint it left. */
export async function runBackfill(type: string, runId: string, deps: BackfillDeps, lastAttempt: boolean): Promise<Checkpoint> {
  const ot = objectTypeByName(type);
  if (!ot?.list) throw new Error(`object type ${type} cannot be backfilled`);
  const [path, query] = ot.list.split('?') as [string, string | undefined];
  const fixed = Object.fromEntries(new URLSearchParams(query ?? ''));
  const load = async () => (await deps.db.query<Checkpoint>('SELECT * FROM stripe.sync_checkpoint WHERE object_type = $1', [type])).rows[0];
  let cp = await load();
  if (!cp || cp.run_id !== runId || cp.status === 'done') return cp!;
  await deps.db.query(`UPDATE stripe.sync_checkpoint SET status = 'running', updated_at = now() WHERE object_type = $1 AND run_id = $2`, [type, runId]);
  try {
    for (;;) {
      deps.signal?.throwIfAborted();
      const readAt = new Date();
      const q = new URLSearchParams({ ...fixed, limit: String(deps.pageSize), ...(cp.cursor ? { starting_after: cp.cursor } : {}) });
      const page = (await deps.client.rawRequest('GET', `${path}?${q}`)) as { data: StripeObject[]; has_more: boolean };
      const done = !page.has_more || page.data.length === 0;
      await deps.db.tx(async (tx) => {
        await mirrorPage(tx, page.data, readAt);
        await tx.query(
          `UPDATE stripe.sync_checkpoint SET cursor = coalesce($3, cursor), synced = synced + $4, pages = pages + 1,
                  status = $5, updated_at = now(), finished_at = CASE WHEN $5 = 'done' THEN now() END, last_error = NULL
            WHERE object_type = $1 AND run_id = $2`,
          [type, runId, page.data.at(-1)?.id ?? null, page.data.length, done ? 'done' : 'running'],
        );
      });
      cp = (await load())!;
      if (done) return cp;
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const status = lastAttempt || !isTransient(e) ? 'failed' : 'retrying';
    await deps.db.query(`UPDATE stripe.sync_checkpoint SET status = $3, last_error = $4, updated_at = now() WHERE object_type = $1 AND run_id = $2`, [
      type,
      runId,
      status,
      message.slice(0, 1000),
    ]);
    deps.log.warn({ err: e, type, runId, status }, 'backfill stopped');
    throw e;
  }
}
