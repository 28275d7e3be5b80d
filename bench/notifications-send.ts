/**
 * notificationsSend to N users (default 10,000) with in-app and push on, each user with one Web Push
 * subscription on a local HTTPS push endpoint that verifies VAPID and decrypts every payload.
 *
 * - In-app: the action through the harness (Hasura's action call → dispatcher → handler → one INSERT … SELECT
 *   with the preference joins) until every row exists, against a raw `INSERT … SELECT` of the same rows into the
 *   same table (Hasura's event trigger included) in the same run; rounds alternate, medians reported.
 * - Push: from the send until every push reached the endpoint (the harness delivering N events, planning, N
 *   push jobs, encryption, VAPID), reported as pushes per second.
 *
 * Run: `npx tsx bench/notifications-send.ts [users] [rounds]`. Uses BullMQ on Redis database 2 when Redis
 * answers, else on PostgreSQL.
 */
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { hasuraDir } from '../src/core/paths.js';
import { createHasuraHarness } from '../src/testing/index.js';
import { createScratchDatabase } from '../test/support/db.js';
import { selfSigned } from '../src/plugins/notifications/__tests__/support/tls.js';
import { WebPushReceiver } from '../src/plugins/notifications/__tests__/support/webpush-receiver.js';
import { freshRedisDb } from './redis.js';

const SECRET = 'bench-notifications-secret-0123456789';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


export async function run(opts: { users?: number; rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.users ?? 10_000;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const tls = await selfSigned();
  const receiver = new WebPushReceiver(tls);
  await receiver.start();
  const db = await createScratchDatabase('bench_notif');
  const redisUrl = await freshRedisDb(2);
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    NOTIFICATIONS_PUSH_CA_FILE: tls.caFile,
    NOTIFICATIONS_WEBPUSH_ENDPOINT_HOSTS: '127.0.0.1',
    NOTIFICATIONS_FEATURES: 'push',
  });
  const server = createServer(runtime);
  const { url } = await server.listen(0, '127.0.0.1');
  const harness = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: join(hasuraDir, 'metadata'),
    env: { NSELF_PLUGINS_URL: url, NSELF_PLUGINS_WEBHOOK_SECRET: SECRET },
    events: { fetchIntervalMs: 20, fetchBatchSize: 100, httpPoolSize: 100 },
    autoStart: false,
  });
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  try {
    receiver.vapidPublicKey = (await pool.query('select public_key from notifications.vapid_key')).rows[0].public_key;
    const users = Array.from({ length: n }, (_, i) => `bench-user-${i}`);
    const subs = users.map(() => receiver.subscribe());
    await pool.query(
      `insert into notifications.push_subscription (user_id, kind, endpoint, p256dh, auth)
       select u, 'webpush', e, p, a from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as t(u, e, p, a)`,
      [users, subs.map((s) => s.endpoint), subs.map((s) => s.keys.p256dh), subs.map((s) => s.keys.auth)],
    );
    const clear = async () => {
      await pool.query('delete from notifications.notification');
      await pool.query(`delete from hdb_catalog.event_log where trigger_name = 'notifications_notification_created'`);
      await pool.query('vacuum analyze notifications.notification');
    };
    const raw = async () => {
      const t = performance.now();
      await pool.query(
        `insert into notifications.notification (user_id, category, title, body, data, priority, in_app)
         select u, 'general', 'New message', 'Hello there', '{"room":"general"}'::jsonb, 'normal', true from unnest($1::text[]) u`,
        [users],
      );
      return performance.now() - t;
    };
    const send = async (i: number) => {
      const t = performance.now();
      const r = await harness.graphql<{ notificationsSend: { notificationCount: number } }>(
        'mutation ($u: [String!]) { notificationsSend(userIds: $u, category: "general", title: "New message", body: "Hello there", data: {room: "general"}) { notificationCount } }',
        { u: users },
        { role: 'service' },
      );
      if (r.data?.notificationsSend.notificationCount !== n) throw new Error(`send ${i}: ${JSON.stringify(r.errors ?? r.data)}`);
      return performance.now() - t;
    };

    const rawMs: number[] = [];
    const sendMs: number[] = [];
    await clear();
    for (let i = 0; i < rounds; i++) {
      rawMs.push(await raw());
      await clear();
      sendMs.push(await send(i));
      await clear();
      say(`round ${i + 1}: raw INSERT … SELECT ${rawMs[i]!.toFixed(0)} ms, notificationsSend ${sendMs[i]!.toFixed(0)} ms`);
    }
    const inAppRatio = median(rawMs) / median(sendMs);
    say(`in-app rows for ${n} users: raw ${median(rawMs).toFixed(0)} ms, notificationsSend ${median(sendMs).toFixed(0)} ms → ${inAppRatio.toFixed(2)}× raw`);

    // Push: one more send, now with the harness delivering the events.
    const start = performance.now();
    const rowsMs = await send(rounds);
    harness.start();
    let lastReport = performance.now();
    while (receiver.received.length < n) {
      if (process.env.BENCH_TRACE && performance.now() - lastReport > 2000) {
        lastReport = performance.now();
        const ev = (await pool.query(`select count(*) filter (where delivered)::int as d, count(*)::int as t from hdb_catalog.event_log`)).rows[0];
        const dl = (await pool.query(`select status, count(*)::int as n from notifications.delivery group by 1`)).rows;
        say(`  ${((performance.now() - start) / 1000).toFixed(1)} s: events ${ev.d}/${ev.t}, deliveries ${JSON.stringify(dl)}, pushes ${receiver.received.length}`);
      }
      if (performance.now() - start > 600_000) throw new Error(`only ${receiver.received.length} of ${n} pushes after 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pushMs = performance.now() - start;
    const rejected = receiver.rejected.length;
    say(`push to ${n} devices: every push received ${(pushMs / 1000).toFixed(1)} s after the send (rows after ${rowsMs.toFixed(0)} ms) → ${(n / (pushMs / 1000)).toFixed(0)} pushes/s; refused by the endpoint: ${rejected}`);
    return { users: n, rounds, queue: redisUrl ? 'redis' : 'postgres', rawMs, sendMs, inAppRatio, pushMs, pushesPerSecond: n / (pushMs / 1000), rejected };
  } finally {
    await harness.close().catch(() => undefined);
    await pool.end();
    await server.shutdown('bench done');
    await receiver.stop();
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ users: process.argv[2] ? Number(process.argv[2]) : undefined, rounds: process.argv[3] ? Number(process.argv[3]) : undefined });
}
