/**
 * Incoming webhooks: `POST /hooks/webhooks/in/<token>` with a JSON body becomes a row of
 * `webhooks.incoming_message` for the URL's owner (an event trigger or a subscription picks it up). The token is
 * the credential, as with Slack's or Discord's incoming webhook URLs: only its sha256 is stored, and a revoked or
 * unknown token answers the same 404.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import type { Db, PluginRuntime } from '../../../core/plugin.js';
import type { WebhooksConfig } from '../config.js';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const hashOf = (token: string) => createHash('sha256').update(token).digest();

export async function createIncoming(db: Db, publicUrl: string, i: { ownerId: string; name: string; rateLimit: number }): Promise<{ incomingId: string; url: string; token: string }> {
  const token = randomBytes(32).toString('base64url');
  const r = await db.query<{ id: string }>('insert into webhooks.incoming (owner_id, name, token_hash, rate_limit) values ($1, $2, $3, $4) returning id', [
    i.ownerId,
    i.name,
    hashOf(token),
    i.rateLimit,
  ]);
  return { incomingId: r.rows[0]!.id, url: `${publicUrl.replace(/\/+$/, '')}/hooks/webhooks/in/${token}`, token };
}

function fail(res: Response, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).json({ message, extensions: { code: `webhooks/${code}` } });
}

class TooLarge extends Error {}

/** Reads the body up to `limit` bytes; stops reading (and throws) as soon as it is over. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new TooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function incomingRoutes(router: Router, runtime: PluginRuntime<WebhooksConfig>): void {
  router.post('/in/:token', async (req: Request, res: Response) => {
    try {
      const token = String((req.params as { token?: string }).token ?? '');
      if (!TOKEN.test(token)) return fail(res, 404, 'incoming-not-found', 'no incoming webhook at this URL');
      const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json' && !type.endsWith('+json')) {
        return fail(res, 415, 'unsupported-media-type', 'post JSON (Content-Type: application/json)');
      }
      const limit = runtime.config.WEBHOOKS_INCOMING_MAX_BYTES;
      let raw: Buffer;
      try {
        raw = await readBody(req, limit);
      } catch (e) {
        if (e instanceof TooLarge) return fail(res, 413, 'payload-too-large', `the body is larger than ${limit} bytes`, { connection: 'close' });
        throw e;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        return fail(res, 400, 'invalid-json', 'the body is not valid JSON');
      }
      // PostgreSQL's jsonb cannot hold U+0000.
      if (raw.includes('\\u0000')) return fail(res, 400, 'invalid-json', 'the body holds a \\u0000 character, which cannot be stored');
      // The rate check, the revocation check and the insert are one statement: a revoked URL stores nothing.
      const r = await runtime.db.query<{ id: string | null; limited: boolean; seconds_left: number }>(
        `with i as (
           update webhooks.incoming
              set rate_count = case when rate_window = date_trunc('minute', now()) then rate_count + 1 else 1 end,
                  rate_window = date_trunc('minute', now()), last_used_at = now()
            where token_hash = $1 and revoked_at is null
            returning id, owner_id, rate_count > rate_limit as limited),
         m as (
           insert into webhooks.incoming_message (incoming_id, owner_id, payload, content_type, user_agent)
           select i.id, i.owner_id, $2::jsonb, $3, $4 from i where not i.limited
           returning id)
         select (select id from m) as id, i.limited,
                ceil(extract(epoch from date_trunc('minute', now()) + interval '1 minute' - now()))::int as seconds_left
           from i`,
        [hashOf(token), raw.toString('utf8'), type, String(req.headers['user-agent'] ?? '').slice(0, 500) || null],
      );
      const row = r.rows[0];
      if (!row) return fail(res, 404, 'incoming-not-found', 'no incoming webhook at this URL');
      if (row.limited) return fail(res, 429, 'rate-limited', 'too many posts to this URL; try again later', { 'retry-after': String(Math.max(1, row.seconds_left)) });
      res.status(202).json({ id: row.id });
    } catch (e) {
      runtime.log.error({ err: e }, 'webhooks: incoming post failed');
      fail(res, 500, 'internal', 'internal error');
    }
  });
}
