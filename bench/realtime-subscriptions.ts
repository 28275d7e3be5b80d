/**
 * The SQL of every documented realtime subscription, as Hasura runs it for one subscriber with the `user`
 * role's permission compiled in (src/plugins/realtime/documents.ts), against 100,000 presence rows (50,000
 * users × 2 devices), 10,000 rooms with 200,000 memberships, 1,000 typing rows, 100,000 events, 5,000 calls and
 * 20,000 signals. Reports p50/p95/p99 per subscription (goal p95 < 5 ms) and whether the plan reads every
 * table through an index (goal: no sequential scan). Statements are prepared, as Hasura runs them; times are
 * round trips from this process on a pool of 2, so they include the client and the machine's load.
 *
 *   npx tsx bench/realtime-subscriptions.ts [runs per subscription]
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createRuntime } from '../src/core/runtime.js';
import { REALTIME_DOCUMENTS, subscriberVars, type RealtimeDocument } from '../src/plugins/realtime/documents.js';
import { createScratchDatabase } from '../test/support/db.js';

const USERS = 50_000;
const ROOMS = 10_000;
const MEMBERS_PER_USER = 4;
const CALLS = 5000;

export interface SubscriptionTiming {
  name: string;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Execution time inside PostgreSQL (EXPLAIN ANALYZE of the same execution). */
  execP50Ms: number;
  execP95Ms: number;
  seqScans: string[];
  rowsReturned: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function seed(pool: pg.Pool): Promise<void> {
  await pool.query(`INSERT INTO realtime.room (id) SELECT 'channel:r' || g FROM generate_series(0, ${ROOMS - 1}) g`);
  // User n is in rooms n, n+1·k, n+2·k, … (mod ROOMS): 20 members per room.
  await pool.query(
    `INSERT INTO realtime.room_member (room_id, user_id)
     SELECT 'channel:r' || ((u * 7 + k * 2503) % ${ROOMS}), 'u' || u FROM generate_series(0, ${USERS - 1}) u, generate_series(0, ${MEMBERS_PER_USER - 1}) k
     ON CONFLICT DO NOTHING`,
  );
  await pool.query(
    `INSERT INTO realtime.presence (user_id, device_id, status, last_seen_at, updated_at)
     SELECT 'u' || u, d, (ARRAY['online', 'away', 'dnd', 'offline'])[1 + (u + d::int) % 4], now() - (u % 600) * interval '1 second', now() - (u % 900) * interval '1 second'
       FROM generate_series(0, ${USERS - 1}) u, (VALUES ('1'), ('2')) AS dev(d)`,
  );
  await pool.query(
    `INSERT INTO realtime.typing (room_id, user_id, expires_at)
     SELECT DISTINCT ON (m.room_id) m.room_id, m.user_id, now() + interval '1 hour' FROM realtime.room_member m
      WHERE m.room_id IN (SELECT 'channel:r' || (g * 10) FROM generate_series(0, 999) g) ORDER BY m.room_id, m.user_id`,
  );
  await pool.query(
    `INSERT INTO realtime.event (room_id, type, payload, sender_id)
     SELECT 'channel:r' || (g % ${ROOMS}), 'message:new', jsonb_build_object('n', g), 'u' || (g % ${USERS}) FROM generate_series(1, 100000) g`,
  );
  await pool.query(
    `INSERT INTO realtime.call (id, type, state, initiator_id, ring_expires_at)
     SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'audio', CASE WHEN g % 5 = 0 THEN 'ringing' ELSE 'ended' END,
            'u' || (g * 2), now() + interval '1 hour' FROM generate_series(1, ${CALLS}) g`,
  );
  await pool.query(
    `INSERT INTO realtime.call_participant (call_id, user_id, role, state)
     SELECT c.id, p.user_id, p.role, CASE WHEN c.state = 'ringing' AND p.role = 'callee' THEN 'invited' WHEN c.state = 'ringing' THEN 'joined' ELSE 'left' END
       FROM realtime.call c, LATERAL (VALUES (c.initiator_id, 'caller'), ('u' || (substr(c.id::text, 25)::int * 2 + 1), 'callee')) AS p(user_id, role)`,
  );
  await pool.query(
    `INSERT INTO realtime.signal (call_id, from_user_id, to_user_id, kind, payload)
     SELECT p.call_id, q.user_id, p.user_id, 'ice', '{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}'
       FROM realtime.call_participant p JOIN realtime.call_participant q ON q.call_id = p.call_id AND q.user_id <> p.user_id, generate_series(1, 2)`,
  );
  await pool.query('VACUUM ANALYZE');
}

/** A subscriber and variables for one run of `d`: a member of a random room, a participant of a random call. */
async function subscriber(pool: pg.Pool, d: RealtimeDocument): Promise<{ me: string; vars: Record<string, unknown> }> {
  // onTyping: one of the 1,000 rooms where someone types (every tenth room).
  const room = `channel:r${d.name === 'onTyping' ? 10 * Math.floor(Math.random() * 1000) : Math.floor(Math.random() * ROOMS)}`;
  const call = `00000000-0000-4000-8000-${String(1 + Math.floor(Math.random() * CALLS)).padStart(12, '0')}`;
  switch (d.name) {
    case 'onIncomingCall': {
      const r = await pool.query(`SELECT user_id FROM realtime.call_participant WHERE state = 'invited' OFFSET floor(random() * ${CALLS / 5}) LIMIT 1`);
      return { me: r.rows[0].user_id, vars: { me: r.rows[0].user_id } };
    }
    case 'onCall':
    case 'onSignals': {
      const r = await pool.query(`SELECT user_id FROM realtime.call_participant WHERE call_id = $1 LIMIT 1`, [call]);
      return { me: r.rows[0].user_id, vars: d.name === 'onCall' ? { callId: call } : { callId: call, after: 0 } };
    }
    case 'onUsersPresence': {
      const r = await pool.query(`SELECT user_id FROM realtime.room_member WHERE room_id = $1`, [room]);
      return { me: r.rows[0].user_id, vars: { userIds: r.rows.map((x) => x.user_id) } };
    }
    default: {
      const r = await pool.query(`SELECT user_id FROM realtime.room_member WHERE room_id = $1 LIMIT 1`, [room]);
      return { me: r.rows[0].user_id, vars: { ...d.variables, roomId: room, ...('after' in d.variables ? { after: 0 } : {}) } };
    }
  }
}

export async function run(opts: { runs?: number; log?: (line: string) => void } = {}): Promise<SubscriptionTiming[]> {
  const say = opts.log ?? ((l: string) => console.log(l));
  const runs = opts.runs ?? 300;
  const db = await createScratchDatabase('bench_rt_subs');
  const migrate = await createRuntime({ DATABASE_URL: db.url, PLUGINS_ENABLED: 'realtime', NSELF_PLUGINS_WEBHOOK_SECRET: 'bench-secret-0123456789abcdef', LOG_LEVEL: 'silent' });
  await migrate.close();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const results: SubscriptionTiming[] = [];
  try {
    const t0 = Date.now();
    await seed(pool);
    const counts = (await pool.query(`SELECT (SELECT count(*) FROM realtime.presence) AS presence, (SELECT count(*) FROM realtime.room) AS rooms,
      (SELECT count(*) FROM realtime.room_member) AS members, (SELECT count(*) FROM realtime.typing) AS typing, (SELECT count(*) FROM realtime.event) AS events,
      (SELECT count(*) FROM realtime.call) AS calls, (SELECT count(*) FROM realtime.signal) AS signals`)).rows[0];
    say(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(counts)}`);
    say(`load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cores`);
    say('                      round trip (ms)             in PostgreSQL (ms)');
    say('subscription          p50      p95      p99        p50       p95     rows   sequential scans');
    for (const d of REALTIME_DOCUMENTS.filter((x) => x.kind === 'subscription')) {
      const times: number[] = [];
      let rowsReturned = 0;
      const sample = await subscriber(pool, d);
      const plan = await pool.query(`EXPLAIN (FORMAT JSON) ${d.sql}`, [[randomUUID()], [subscriberVars(d, sample.me, sample.vars)]]);
      const seqScans: string[] = [];
      const walk = (n: Record<string, any>) => {
        if (n['Node Type'] === 'Seq Scan') seqScans.push(n['Relation Name']);
        for (const c of n.Plans ?? []) walk(c);
      };
      walk(plan.rows[0]['QUERY PLAN'][0].Plan);
      // One session with the statement prepared, as Hasura's poller keeps it; EXPLAIN ANALYZE of the same
      // execution gives the time inside PostgreSQL, apart from the round trip and the machine's scheduling.
      const c = await pool.connect();
      const exec: number[] = [];
      try {
        await c.query(`PREPARE sub_${d.name} (uuid[], json[]) AS ${d.sql}`);
        for (let i = 0; i < runs + 20; i++) {
          const s = await subscriber(pool, d);
          // EXECUTE takes no bind parameters: the subscriber's values go in as literals.
          const args = `(ARRAY[${pg.escapeLiteral(randomUUID())}]::uuid[], ARRAY[${pg.escapeLiteral(subscriberVars(d, s.me, s.vars))}]::json[])`;
          const start = process.hrtime.bigint();
          const r = await c.query(`EXECUTE sub_${d.name} ${args}`);
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          const explained = await c.query(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE sub_${d.name} ${args}`);
          if (i >= 20) {
            times.push(ms);
            exec.push(explained.rows[0]['QUERY PLAN'][0]['Execution Time']);
            const root = Object.values(r.rows[0].result)[0];
            rowsReturned += Array.isArray(root) ? root.length : 0;
          }
        }
      } finally {
        c.release();
      }
      exec.sort((a, b) => a - b);
      times.sort((a, b) => a - b);
      const t: SubscriptionTiming = {
        name: d.name, p50Ms: quantile(times, 0.5), p95Ms: quantile(times, 0.95), p99Ms: quantile(times, 0.99),
        execP50Ms: quantile(exec, 0.5), execP95Ms: quantile(exec, 0.95), seqScans, rowsReturned: Math.round(rowsReturned / runs),
      };
      results.push(t);
      const f = (n: number, w: number) => n.toFixed(2).padStart(w);
      say(`${d.name.padEnd(20)} ${f(t.p50Ms, 7)} ${f(t.p95Ms, 8)} ${f(t.p99Ms, 8)}   ${f(t.execP50Ms, 9)} ${f(t.execP95Ms, 9)} ${String(t.rowsReturned).padStart(6)}   ${seqScans.length ? seqScans.join(', ') : 'none'}`);
    }
    const worst = Math.max(...results.map((r) => r.p95Ms));
    const worstExec = Math.max(...results.map((r) => r.execP95Ms));
    const seq = results.filter((r) => r.seqScans.length).map((r) => r.name);
    say(`worst p95: round trip ${worst.toFixed(2)} ms, in PostgreSQL ${worstExec.toFixed(2)} ms (goal < 5 ms: ${worst < 5 ? 'met' : worstExec < 5 ? 'met inside PostgreSQL, not on the round trip' : 'NOT met'}); sequential scans: ${seq.length ? seq.join(', ') : 'none'}`);
    return results;
  } finally {
    await pool.end();
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ runs: process.argv[2] ? Number(process.argv[2]) : undefined });
}
