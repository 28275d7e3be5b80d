/** Redis for the benchmarks that put BullMQ on it. */
import { Redis } from 'ioredis';
import { REDIS_URL } from '../test/support/db.js';

/** The URL of Redis database `db`, flushed first; undefined when Redis does not answer. */
export async function freshRedisDb(db: number): Promise<string | undefined> {
  const url = `${REDIS_URL.replace(/\/\d*$/, '')}/${db}`;
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await r.connect();
    await r.flushdb();
    return url;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}
