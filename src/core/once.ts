/**
 * Exactly-once effects for at-least-once deliveries. The receipt row and the effect commit in one
 * transaction, so a redelivery either finds the receipt (the effect is committed) or runs again from
 * scratch (nothing was committed).
 *
 * Concurrent duplicates: the second INSERT … ON CONFLICT waits on the first transaction's uncommitted row
 * and, once it commits, sees the conflict and returns no row — so only one delivery runs `fn`. If the first
 * rolls back, the second inserts and runs.
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import type { Db, OnceResult, Queryable } from './plugin.js';

export type DeliveryKind = 'action' | 'event' | 'cron';

export interface ReceiptScope {
  kind: DeliveryKind;
  /** Action, trigger or cron name. */
  handler: string;
}

const MAX_KEY_LENGTH = 1024;

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || key.includes('\0')) {
    throw new TypeError(`once(): key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters, without NUL`);
  }
}

const lit = pg.escapeLiteral;

/**
 * The receipt insert, sent together with BEGIN as one simple-protocol message: one round trip instead of
 * two on the hottest path of event delivery. Values are escaped literals (escapeLiteral quotes and escapes
 * backslashes), because the simple protocol has no parameters.
 * A 'skipped' receipt for the same key is upgraded: the skip was an acknowledgement, not an effect.
 */
function claimSql(scope: ReceiptScope, key: string): string {
  return (
    'BEGIN; INSERT INTO nself_plugins.event_receipt (kind, handler, key, status) ' +
    `VALUES (${lit(scope.kind)}, ${lit(scope.handler)}, ${lit(key)}, 'done') ` +
    "ON CONFLICT (kind, handler, key) DO UPDATE SET status = 'done', reason = NULL, created_at = now() " +
    "WHERE event_receipt.status = 'skipped' RETURNING 1"
  );
}

export async function runOnce<T>(
  db: Db,
  scope: ReceiptScope,
  key: string,
  fn: (tx: PoolClient) => Promise<T>,
): Promise<OnceResult<T>> {
  checkKey(key);
  const client = await db.pool.connect();
  let broken: Error | undefined;
  try {
    const results = (await client.query(claimSql(scope, key))) as unknown as pg.QueryResult[];
    if (results[1]!.rowCount === 0) {
      await client.query('ROLLBACK');
      return { first: false };
    }
    const value = await fn(client);
    await client.query('COMMIT');
    return { first: true, value };
  } catch (e) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw e;
  } finally {
    client.release(broken);
  }
}

// PostgreSQL text cannot hold NUL; a reason or key is informational here, so drop it rather than fail.
const stripNul = (s: string) => s.replace(/\0/g, '');

/** Records a delivery acknowledged without effect. Never overwrites a 'done' receipt. */
export async function recordSkip(db: Queryable, scope: ReceiptScope, key: string, reason: string): Promise<void> {
  await db.query(
    'INSERT INTO nself_plugins.event_receipt (kind, handler, key, status, reason) VALUES ($1, $2, $3, $4, $5) ' +
      'ON CONFLICT (kind, handler, key) DO NOTHING',
    [scope.kind, scope.handler, stripNul(key).slice(0, MAX_KEY_LENGTH), 'skipped', stripNul(reason).slice(0, 2000) || 'skipped'],
  );
}
