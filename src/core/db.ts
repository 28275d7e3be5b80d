import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from './plugin.js';

export interface DbOptions {
  max?: number;
  /** Where idle-client errors go (a dropped connection must not crash the process). */
  log?: Logger;
  applicationName?: string;
}

export interface ClosableDb extends Db {
  close(): Promise<void>;
}

/** A pg pool with a transaction helper. */
export function createDb(url: string, opts: DbOptions = {}): ClosableDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'nself-plugins',
  });
  // Without a listener, an error on an idle client (server restart, network cut) is an uncaught exception.
  pool.on('error', (err) => opts.log?.warn({ err }, 'idle PostgreSQL connection failed'));

  let closed: Promise<void> | undefined;
  return {
    pool,
    query: (text, params) => pool.query(text, params as unknown[] | undefined),
    async tx(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const value = await fn(client);
        await client.query('COMMIT');
        return value;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is unusable: destroy it instead of returning it to the pool.
          broken = rollbackError as Error;
        }
        throw e;
      } finally {
        client.release(broken);
      }
    },
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}
