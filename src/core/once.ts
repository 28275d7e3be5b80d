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
 * The receipt insert, prepared once per connection. A 'skipped' receipt for the same key is upgraded: the
 * skip was an acknowledgement, not an effect.
 */
const CLAIM = 'nself_plugins_once_claim';
const PREPARE_CLAIM =
  `PREPARE ${CLAIM} (text, text, text) AS ` +
  "INSERT INTO nself_plugins.event_receipt (kind, handler, key, status) VALUES ($1, $2, $3, 'done') " +
  "ON CONFLICT (kind, handler, key) DO UPDATE SET status = 'done', reason = NULL, created_at = now() " +
  "WHERE event_receipt.status = 'skipped' RETURNING 1";

const preparedOn = new WeakSet<PoolClient>();

/**
 * BEGIN and the claim travel as one simple-protocol message: one round trip instead of two on the hottest
 * path of event delivery, and no parse/plan per event. The simple protocol has no parameters, so values are
 * escaped literals (escapeLiteral quotes and escapes backslashes).
 */
async function claim(client: PoolClient, scope: ReceiptScope, key: string): Promise<boolean> {
  if (!preparedOn.has(client)) {
    await client.query(PREPARE_CLAIM);
    preparedOn.add(client);
  }
  let results: pg.QueryResult[];
  try {
    results = (await client.query(
      `BEGIN; EXECUTE ${CLAIM}(${lit(scope.kind)}, ${lit(scope.handler)}, ${lit(key)})`,
    )) as unknown as pg.QueryResult[];
  } catch (e) {
    // Someone ran DISCARD ALL / DEALLOCATE on this pooled connection: prepare again, once.
    if ((e as { code?: string }).code !== '26000' || !preparedOn.has(client)) throw e;
    await client.query('ROLLBACK');
    preparedOn.delete(client);
    return claim(client, scope, key);
  }
  return results[1]!.rowCount === 1;
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
    if (!(await claim(client, scope, key))) {
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
