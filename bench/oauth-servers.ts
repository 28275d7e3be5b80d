/**
 * Servers the oauth benchmark loads, one per process (so the load generator does not steal their loop):
 *   ours   the handler server with the oauth plugin (createRuntime + createServer)
 *   bare   node:http + pg + jose: per request one UPDATE marking the refresh token used and one HS256 sign of the
 *          same Hasura claims — the least a refresh can do
 * Prints `READY <port>` once listening; exits on SIGTERM.
 */
import http from 'node:http';
import { createHash, createSecretKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { SignJWT } from 'jose';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { readBody, send } from './bare-http.js';

const mode = process.argv[2];
const secret = process.env.NSELF_PLUGINS_WEBHOOK_SECRET!;
const POOL_MAX = Number(process.env.DATABASE_POOL_MAX ?? 10);

let server: http.Server;
let close: () => Promise<void> = async () => undefined;

if (mode === 'bare') {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL!, max: POOL_MAX });
  const key = createSecretKey(Buffer.from(JSON.parse(process.env.OAUTH_JWT_SECRET!).key, 'utf8'));
  server = http.createServer(async (req, res) => {
    if (req.headers['x-nself-plugins-secret'] !== secret) return send(res, 401, { message: 'unauthorized' });
    try {
      const b = JSON.parse(await readBody(req));
      const token = b.input?.refreshToken;
      const r = await pool.query({
        name: 'use',
        text: 'UPDATE oauth.refresh_token SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL RETURNING user_id::text',
        values: [createHash('sha256').update(String(token)).digest()],
      });
      const userId = r.rows[0]?.user_id;
      if (!userId) return send(res, 401, { message: 'invalid refresh token' });
      const accessToken = await new SignJWT({ 'https://hasura.io/jwt/claims': { 'x-hasura-user-id': userId, 'x-hasura-default-role': 'user', 'x-hasura-allowed-roles': ['user', 'me'] } })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime('900s')
        .sign(key);
      send(res, 200, { accessToken, refreshToken: token, expiresIn: 900 });
    } catch {
      send(res, 400, { message: 'bad request' });
    }
  });
  close = () => pool.end();
} else if (mode === 'ours') {
  const runtime = await createRuntime(
    { ...process.env, PLUGINS_ENABLED: 'oauth', DATABASE_POOL_MAX: String(POOL_MAX) },
    { log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), migrate: false },
  );
  const s = createServer(runtime);
  server = s.http;
  await s.listen(0, '127.0.0.1');
  close = () => s.shutdown('bench done');
} else {
  throw new Error(`unknown mode ${mode}`);
}

if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
process.once('SIGTERM', () => {
  server.close();
  void close().finally(() => process.exit(0));
});
