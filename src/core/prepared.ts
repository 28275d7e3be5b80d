/**
 * Hot statements (realtime's heartbeat, typing and broadcast, oauth's refresh, …) run as named prepared
 * statements: their CTEs cost more to plan than to execute, and pg prepares a name once per connection and
 * re-runs the plan after that. A name must always carry the same text within a process.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import type { Queryable } from './plugin.js';

interface ConfigQueryable {
  query<R extends QueryResultRow>(config: { name: string; text: string; values: unknown[] }): Promise<QueryResult<R>>;
}

export function prepared<R extends QueryResultRow>(q: Queryable, name: string, text: string, values: unknown[]): Promise<QueryResult<R>> {
  // A Db exposes its pool; a PoolClient or Pool takes the config form itself.
  const target = ('pool' in q ? (q as { pool: unknown }).pool : q) as ConfigQueryable;
  return target.query<R>({ name, text, values });
}
