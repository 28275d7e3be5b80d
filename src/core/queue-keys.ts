/**
 * Job ids against BullMQ's own key names: on Redis a job's hash lives at `bull:<queue>:<id>`, beside the
 * queue's own keys, so an id equal to one of them breaks the queue. The names (read from BullMQ), the
 * check for a queue so damaged, and its repair.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { QueueKeys, RedisQueueBackend, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';

let keyNames: ReadonlySet<string> | undefined;

/**
 * Every name BullMQ keeps directly under a queue's key prefix on Redis (`bull:<queue>:<name>`: `wait`,
 * `delayed`, `repeat`, `meta`, …, and the namespaces `de:`, `dn:`, `metrics:` …). A job's hash lives at
 * `bull:<queue>:<job id>`, so a job id equal to one of these lands on a queue structure and breaks the queue
 * for good. Read from BullMQ itself (its key list and the key names its Lua scripts and classes build), so
 * an upgrade that adds a key is covered without anyone updating a list here.
 */
export function backendKeyNames(): ReadonlySet<string> {
  keyNames ??= readBackendKeyNames();
  return keyNames;
}

function readBackendKeyNames(): ReadonlySet<string> {
  const names = new Set(Object.keys(new QueueKeys().getKeys('q')).filter(Boolean));
  const add = (key: string) => names.add(key.split(':')[0]!);
  const dist = dirname(createRequire(import.meta.url).resolve('bullmq'));
  // `prefix .. "delayed"`, `baseKey .. 'metrics:failed'`: Lua strings appended to a queue's key prefix.
  const luaKey = /\b\w*(?:[Pp]refix\w*|baseKey)\s*\.\.\s*["']([a-z][a-z-]*(?::[a-z-]*)*)["']/g;
  // `this.toKey('repeat')`, `toKey(`metrics:${type}`)`: keys the classes build under the same prefix.
  const jsKey = /\btoKey\(\s*['"`]([a-z][a-z-]*)/g;
  const scan = (dir: string, ext: string, re: RegExp) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
    } catch {
      return;
    }
    for (const file of entries.filter((f) => f.endsWith(ext))) {
      for (const m of readFileSync(join(dir, file), 'utf8').matchAll(re)) add(m[1]!);
    }
  };
  scan(join(dist, 'commands'), '.lua', luaKey);
  scan(join(dist, 'classes'), '.js', jsKey);
  return names;
}

export interface QueueDamage {
  /** The backend key holding something other than what BullMQ keeps there. */
  key: string;
  problem: string;
}

/**
 * What in a queue's storage would break BullMQ's own operations: on Redis, a job hash sitting on one of
 * BullMQ's own keys (a job once added with an id such as `repeat` or `delayed`), after which every call
 * touching that key fails with WRONGTYPE. The PostgreSQL backend keys jobs by (queue, id) columns, so
 * no id reaches its structures.
 */
export async function queueDamage(queue: Queue): Promise<QueueDamage[]> {
  const backend = queue.getBackend();
  if (!(backend instanceof RedisQueueBackend)) return [];
  const client = await backend.client;
  const damage: QueueDamage[] = [];
  // Every job hash has a `timestamp` field and none of BullMQ's own keys has one; on a key of another
  // type the command fails with WRONGTYPE, which means the key is BullMQ's own.
  await Promise.all(
    [...backendKeyNames()].map(async (name) => {
      const key = queue.toKey(name);
      const found = await client.hexists(key, 'timestamp').catch(() => 0);
      if (found === 1) damage.push({ key, problem: `holds a job with id "${name}", which is one of BullMQ's own key names` });
    }),
  );
  damage.sort((a, b) => a.key.localeCompare(b.key));
  return damage;
}

/** A job taken out of a queue by `repairRedisQueue`: its id and its hash as stored. */
export interface RemovedJob {
  id: string;
  fields: Record<string, string>;
}

/**
 * Takes the jobs found by `queueDamage` out of a Redis queue: each job's hash (and the keys hung off it) is
 * deleted and its id removed from every state list and set, in one MULTI, so the key is BullMQ's again.
 * A job sitting on the queue's `meta` hash is merged with the queue's own settings and cannot be told
 * apart from them; it is left and reported. Returns the removed jobs, so their data can be kept elsewhere.
 */
export async function repairRedisQueue(redis: Redis, queue: Queue): Promise<{ removed: RemovedJob[]; left: QueueDamage[] }> {
  const removed: RemovedJob[] = [];
  const left: QueueDamage[] = [];
  for (const damage of await queueDamage(queue)) {
    const id = damage.key.slice(queue.toKey('').length);
    if (id === 'meta') {
      left.push({ ...damage, problem: `${damage.problem}; its fields are mixed with the queue's settings: remove the job's fields (name, data, opts, timestamp, …) from it by hand` });
      continue;
    }
    const fields = await redis.hgetall(damage.key);
    const k = (name: string) => queue.toKey(name);
    const tx = redis.multi();
    // The hash first: with it gone the key may be the state list of the same name again.
    tx.del(damage.key, ...['logs', 'lock', 'dependencies', 'processed', 'failed', 'unsuccessful'].map((s) => `${damage.key}:${s}`));
    for (const list of ['wait', 'paused', 'active']) tx.lrem(k(list), 0, id);
    for (const set of ['prioritized', 'delayed', 'completed', 'failed', 'waiting-children']) tx.zrem(k(set), id);
    tx.srem(k('stalled'), id);
    const results = (await tx.exec()) ?? [];
    // A state structure of another type only fails its own command; the deletion is what must succeed.
    if (results[0]?.[0]) throw results[0][0];
    removed.push({ id, fields });
  }
  return { removed, left };
}
