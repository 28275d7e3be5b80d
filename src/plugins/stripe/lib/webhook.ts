/**
 * `POST /hooks/stripe/webhook`: Stripe's deliveries. The signature is checked over the raw bytes (read here,
 * never through a JSON parser) with the library's verifier and STRIPE_WEBHOOK_SECRET; the event is recorded
 * once by its id and its application enqueued as a job with the event id as job id, so a replay (Stripe's
 * retries, a resent event) records and applies nothing twice. The answer comes as soon as the event is
 * stored: Stripe times deliveries out after a few seconds.
 */
import type { IncomingMessage } from 'node:http';
import type { Request, Response, Router } from 'express';
import type Stripe from 'stripe';
import { stripeSdk } from './client.js';
import type { PluginRuntime } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { applyEventJob } from './jobs.js';

class TooLarge extends Error {}

function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new TooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy();
        reject(new TooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const fail = (res: Response, status: number, code: string, message: string) =>
  res.status(status).json({ message, extensions: { code: `stripe/${code}` } });

export function webhookRoute(router: Router, runtime: PluginRuntime<StripeConfig>): void {
  const secret = runtime.config.STRIPE_WEBHOOK_SECRET;
  const tolerance = runtime.config.STRIPE_WEBHOOK_TOLERANCE_SECONDS;
  const limit = runtime.core.BODY_LIMIT_BYTES;
  router.post('/webhook', async (req: Request, res: Response) => {
    if (!secret) return fail(res, 503, 'not-configured', 'STRIPE_WEBHOOK_SECRET is not set');
    const signature = req.headers['stripe-signature'];
    if (typeof signature !== 'string' || !signature) return fail(res, 400, 'unsigned', 'the Stripe-Signature header is missing');
    let raw: Buffer;
    try {
      raw = await readRaw(req, limit);
    } catch (e) {
      res.setHeader('connection', 'close');
      if (e instanceof TooLarge) return fail(res, 413, 'too-large', `the body exceeds ${limit} bytes`);
      return void res.destroy();
    }
    let event: Stripe.Event;
    try {
      event = (stripeSdk.loaded ?? (await stripeSdk())).webhooks.constructEvent(raw, signature, secret, tolerance);
    } catch (e) {
      // Wrong secret, altered body, or a timestamp outside the tolerance (a replay of an old delivery).
      return fail(res, 400, 'bad-signature', e instanceof Error ? e.message : 'the signature does not verify');
    }
    if (typeof event?.id !== 'string' || !/^evt_[A-Za-z0-9_]{1,250}$/.test(event.id) || typeof event.type !== 'string' || !event.data?.object) {
      return fail(res, 400, 'malformed-event', 'the event lacks an id, a type or an object');
    }
    try {
      const object = event.data.object as unknown as { id?: unknown; customer?: unknown };
      const r = await runtime.db.query<{ status: string; inserted: boolean }>(
        `WITH ins AS (
           INSERT INTO stripe.event (id, type, object_id, api_version, livemode, created, data)
           VALUES ($1, $2, $3, $4, $5, to_timestamp($6), $7) ON CONFLICT (id) DO NOTHING RETURNING status)
         SELECT status, true AS inserted FROM ins
         UNION ALL SELECT status, false FROM stripe.event WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
        [event.id, event.type, typeof object.id === 'string' ? object.id : typeof object.customer === 'string' ? object.customer : null, event.api_version ?? null, !!event.livemode, event.created, event],
      );
      const row = r.rows[0]!;
      // Still pending on a replay: the first delivery may have failed to enqueue; the job id makes this a no-op otherwise.
      if (row.status === 'pending') await applyEventJob.enqueue(runtime, { eventId: event.id }, { jobId: event.id });
      res.status(200).json({ received: true, duplicate: !row.inserted });
    } catch (err) {
      runtime.log.error({ err, eventId: event.id }, 'recording a Stripe event failed');
      // Stripe retries non-2xx deliveries: the event is not lost.
      fail(res, 500, 'internal', 'the event could not be recorded');
    }
  });
}
