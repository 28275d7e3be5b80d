/**
 * Servers the realtime benchmarks load, one per process (so the load generator does not steal their loop):
 *   ours             the handler server with the realtime plugin (createRuntime + createServer)
 *   bare             node:http + pg running the same SQL per request as the actions (heartbeat, typing, broadcast),
 *                    prepared as the plugin prepares it
 *   raw-inserts      no HTTP: N loops inserting the broadcast rows straight through pg for BENCH_SECONDS, then
 *                    prints `DONE <rows>`
 * Prints `READY <port>` once listening; exits on SIGTERM.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { HEARTBEAT_SQL } from '../src/plugins/realtime/lib/presence.js';
import { START_TYPING_SQL } from '../src/plugins/realtime/lib/typing.js';
import { BROADCAST_SQL } from '../src/plugins/realtime/lib/broadcast.js';
import { readBody, send } from './bare-http.js';

const mode = process.argv[2];
const secret = process.env.NSELF_PLUGINS_WEBHOOK_SECRET!;
const databaseUrl = process.env.DATABASE_URL!;
const POOL_MAX = Number(process.env.DATABASE_POOL_MAX ?? 10);
const HEARTBEAT_MIN_MS = Number(process.env.REALTIME_HEARTBEAT_MIN_INTERVAL_MS ?? 5000);
const TYPING_MIN_MS = Number(process.env.REALTIME_TYPING_MIN_INTERVAL_MS ?? 1000);
const BROADCAST_PER_MINUTE = Number(process.env.REALTIME_BROADCAST_PER_MINUTE ?? 600);

let server: http.Server | undefined;
let close: () => Promise<void> = async () => undefined;

if (mode === 'bare') {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_MAX });
  const handlers: Record<string, (input: any, user: string) => Promise<unknown>> = {
    realtimeHeartbeat: async (i, user) => {
      const r = await pool.query({ name: 'hb', text: HEARTBEAT_SQL, values: [user, i.deviceId, i.platform ?? null, i.roomId ?? null, i.idle ? 'away' : 'online', HEARTBEAT_MIN_MS] });
      const row = r.rows[0];
      return { userId: user, deviceId: i.deviceId, status: row.status, customStatus: row.custom_status, customEmoji: row.custom_emoji, currentRoomId: row.current_room_id, lastSeenAt: row.last_seen_at, throttled: row.throttled };
    },
    realtimeStartTyping: async (i, user) => {
      const r = await pool.query({ name: 'typing', text: START_TYPING_SQL, values: [i.roomId, user, i.threadId ?? null, 6, TYPING_MIN_MS] });
      const row = r.rows[0];
      return { roomId: i.roomId, threadId: i.threadId ?? null, typing: true, expiresAt: row.expires_at, throttled: row.throttled };
    },
    realtimeBroadcast: async (i, user) => {
      const r = await pool.query({ name: 'broadcast', text: BROADCAST_SQL, values: [i.roomId, i.type, JSON.stringify(i.payload ?? {}), user, i.dedupKey ?? null, BROADCAST_PER_MINUTE] });
      const row = r.rows[0];
      return { id: row.id, roomId: i.roomId, type: i.type, createdAt: row.created_at, duplicate: row.duplicate, recipientCount: row.recipients };
    },
  };
  server = http.createServer(async (req, res) => {
    if (req.headers['x-nself-plugins-secret'] !== secret) return send(res, 401, { message: 'unauthorized' });
    try {
      const b = JSON.parse(await readBody(req));
      const handler = handlers[b.action?.name];
      const user = b.session_variables?.['x-hasura-user-id'];
      if (!handler || typeof user !== 'string') return send(res, 400, { message: 'bad request' });
      send(res, 200, await handler(b.input ?? {}, user));
    } catch {
      send(res, 400, { message: 'bad request' });
    }
  });
  close = () => pool.end();
} else if (mode === 'ours') {
  const runtime = await createRuntime(
    { ...process.env, PLUGINS_ENABLED: 'realtime', DATABASE_POOL_MAX: String(POOL_MAX) },
    { log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), migrate: false },
  );
  const s = createServer(runtime);
  server = s.http;
  await s.listen(0, '127.0.0.1');
  close = () => s.shutdown('bench done');
} else if (mode === 'raw-inserts') {
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const rooms = Number(process.env.BENCH_ROOMS ?? 1000);
  const loops = Number(process.env.BENCH_LOOPS ?? 50);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_MAX });
  const end = Date.now() + seconds * 1000;
  let rows = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (Date.now() < end) {
        const n = Math.floor(Math.random() * rooms * 10);
        await pool.query({
          name: 'raw_insert',
          text: 'INSERT INTO realtime.event (room_id, type, payload, sender_id) VALUES ($1, $2, $3, $4)',
          values: [`channel:r${n % rooms}`, 'message:new', JSON.stringify({ text: 'hello there', n }), `u${n}`],
        });
        rows++;
      }
    }),
  );
  await pool.end();
  process.stdout.write(`DONE ${rows}\n`);
  process.exit(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}

if (server) {
  if (!server.listening) await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => {
    server!.close();
    void close().finally(() => process.exit(0));
  });
}
