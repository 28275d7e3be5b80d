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
import type { PluginRuntime, Queryable } from '../../../core/plugin.js';
import { batcherPer, StatementBatcher } from '../../../core/statement-batcher.js';
import type { StripeConfig } from '../config.js';
import { enqueueApplies } from './jobs.js';

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

interface Recorded {
  status: string | null;
  inserted: boolean;
}

/**
 * Records the events of concurrent deliveries in one statement (one commit for them all; each answer still
 * waits for it): once per event id — a replay, or the same event twice in one batch, records nothing new.
 */
async function recordEvents(db: Queryable, events: readonly Stripe.Event[]): Promise<Recorded[]> {
  const first = new Map<string, number>();
  events.forEach((e, i) => first.has(e.id) || first.set(e.id, i));
  const unique = [...first.values()].map((i) => events[i]!);
  const objectIdOf = (event: Stripe.Event) => {
    const object = event.data.object as unknown as { id?: unknown; customer?: unknown };
    return typeof object.id === 'string' ? object.id : typeof object.customer === 'string' ? object.customer : null;
  };
  const r = await db.query<{ id: string; status: string | null; inserted: boolean }>(
    `WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::float8[], $7::jsonb[])
                  AS u(id, type, object_id, api_version, livemode, created, data)),
     ins AS (
       INSERT INTO stripe.event (id, type, object_id, api_version, livemode, created, data)
       SELECT id, type, object_id, api_version, livemode, to_timestamp(created), data FROM u ON CONFLICT (id) DO NOTHING RETURNING id, status)
     SELECT u.id, coalesce(ins.status, e.status) AS status, ins.id IS NOT NULL AS inserted
       FROM u LEFT JOIN ins ON ins.id = u.id LEFT JOIN stripe.event e ON e.id = u.id AND ins.id IS NULL`,
    [
      unique.map((e) => e.id),
      unique.map((e) => e.type),
      unique.map(objectIdOf),
      unique.map((e) => e.api_version ?? null),
      unique.map((e) => !!e.livemode),
      unique.map((e) => e.created),
      unique.map((e) => JSON.stringify(e)),
    ],
  );
  const byId = new Map(r.rows.map((row) => [row.id, row]));
  return events.map((e, i) => {
    const row = byId.get(e.id);
    return { status: row?.status ?? null, inserted: !!row?.inserted && first.get(e.id) === i };
  });
}

const recordings = batcherPer((db: Queryable) => new StatementBatcher<Stripe.Event, Recorded>((events) => recordEvents(db, events)));

/** The events of deliveries answered in the same turn go to shared apply jobs. One batcher per queue. */
const applies = batcherPer(
  (queue: PluginRuntime<StripeConfig>['queue']) =>
    new StatementBatcher<string, void>(async (ids) => {
      await enqueueApplies({ queue }, ids);
      return ids.map(() => undefined);
    }),
);

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
      const row = await recordings(runtime.db).call(event);
      // Still pending on a replay: the first delivery may have failed to enqueue; the job id makes this a no-op otherwise.
      // No status: a concurrent delivery of the same event recorded it while this one's statement ran.
      if (row.status === 'pending' || row.status === null) await applies(runtime.queue).call(event.id);
      res.status(200).json({ received: true, duplicate: !row.inserted });
    } catch (err) {
      runtime.log.error({ err, eventId: event.id }, 'recording a Stripe event failed');
      // Stripe retries non-2xx deliveries: the event is not lost.
      fail(res, 500, 'internal', 'the event could not be recorded');
    }
  });
}
