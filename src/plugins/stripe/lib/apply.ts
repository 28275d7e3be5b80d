/**
 * Applying one recorded webhook event to the mirror (run by the `stripe.apply-event` job). The event row is
 * locked for the transaction that applies it, so a redelivered job, a second worker or a replayed webhook
 * finds it done and does nothing. State changes of the mirror (a subscription becoming active) are decided
 * from the row before and after the upsert, never from the event alone: a stale event changes nothing and
 * announces nothing.
 */
import type Stripe from 'stripe';
import type { Logger } from 'pino';
import type { Db, Queryable } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { batcherPer, StatementBatcher } from '../../../core/statement-batcher.js';
import { customerOf, mirrorObject, objectType, PLAIN_TYPES, type ObjectType, type StripeObject } from './objects.js';

export type ApplyStatus = 'applied' | 'stale' | 'ignored' | 'missing';

export interface ApplyDeps {
  db: Db;
  client: Stripe | undefined;
  config: StripeConfig;
  log: Logger;
}

interface EventRow {
  id: string;
  type: string;
  status: string;
  created: Date;
  data: Stripe.Event;
}

const ACTIVE = new Set(['active', 'trialing']);

/** Events that report something that happened (not a state), announced even when the object's state is stale. */
const HAPPENINGS: Record<string, string> = {
  'invoice.payment_failed': 'invoice.payment_failed',
  'invoice.paid': 'invoice.paid',
  'invoice.payment_action_required': 'invoice.payment_action_required',
  'checkout.session.completed': 'checkout.completed',
  'customer.subscription.trial_will_end': 'trial.will_end',
  'charge.dispute.created': 'dispute.created',
  'charge.refunded': 'charge.refunded',
};

/** Typed billing events of a state transition of a subscription (previous → current). */
export function subscriptionTransitions(previous: StripeObject | null, current: StripeObject): string[] {
  const before = previous?.status as string | undefined;
  const now = current.status as string;
  const out: string[] = [];
  if (ACTIVE.has(now) && !(before && ACTIVE.has(before))) out.push('subscription.activated');
  if (now === 'past_due' && before !== 'past_due') out.push('subscription.past_due');
  if ((now === 'canceled' || now === 'incomplete_expired') && before !== now) out.push('subscription.canceled');
  if (before && previous && ACTIVE.has(before) && ACTIVE.has(now)) {
    const price = (s: StripeObject) => (s.items?.data ?? []).map((i: any) => i.price?.id).sort().join(',');
    if (price(previous) !== price(current)) out.push('subscription.plan_changed');
  }
  return out;
}

async function retrieve(client: Stripe, type: string, id: string): Promise<StripeObject | 'gone'> {
  const path = objectType(type)?.retrieve;
  try {
    const r = await client.rawRequest('GET', path!.replace('{id}', encodeURIComponent(id)));
    return r as unknown as StripeObject;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return 'gone';
    throw e;
  }
}

/**
 * The recorded events the apply jobs running at the same moment are about to apply, read in one statement.
 * Unlocked: the statement that applies an event locks it again and checks it is still pending.
 */
const eventReads = batcherPer(
  (db: Queryable) =>
    new StatementBatcher<string, EventRow | null>(async (ids) => {
      const r = await db.query<EventRow>('SELECT id, type, status, created, data FROM stripe.event WHERE id = ANY($1::text[])', [[...new Set(ids)]]);
      const byId = new Map(r.rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
);

/**
 * An event whose object has no side effects in the mirror (no embedded children, no entitlements, no billing
 * event to announce) is applied by one statement: the event's row lock, the guarded upsert, the customer link
 * and the ledger update together, atomic as the transaction they replace. Null when the event was no longer
 * pending by the time its lock was granted (another worker applied it): the caller reads what it became.
 */
async function applyPlain(db: Queryable, ev: EventRow, type: ObjectType, object: StripeObject, deleted: boolean): Promise<ApplyStatus | null> {
  const owner = type.name === 'customer' ? ownerOfCustomer(object) : null;
  const r = await db.query<{ status: ApplyStatus }>(
    `WITH ev AS (SELECT id FROM stripe.event WHERE id = $1 AND status = 'pending' FOR UPDATE),
     up AS (
       INSERT INTO stripe.${type.table} AS t (id, customer_id, data, deleted, terminal, last_event_at)
       SELECT $2, $3, $4, $5, $6, $7 FROM ev
       ON CONFLICT (id) DO UPDATE SET
         customer_id = coalesce(excluded.customer_id, t.customer_id), data = excluded.data, deleted = excluded.deleted,
         terminal = excluded.terminal, last_event_at = excluded.last_event_at, synced_at = now()
       WHERE t.last_event_at < excluded.last_event_at OR (t.last_event_at = excluded.last_event_at AND NOT t.terminal)
       RETURNING 1),
     link AS (
       INSERT INTO stripe.customer_link (owner_type, owner_id, customer_id)
       SELECT $8, $9, $2 FROM up WHERE $9::text IS NOT NULL ON CONFLICT DO NOTHING)
     UPDATE stripe.event e
        SET status = CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'applied' ELSE 'stale' END,
            reason = CASE WHEN EXISTS (SELECT 1 FROM up) THEN NULL ELSE 'the mirror holds an equal or newer state' END,
            applied_at = now()
       FROM ev WHERE e.id = ev.id
     RETURNING e.status`,
    [ev.id, object.id, customerOf(object), object, deleted || object.deleted === true, deleted || object.deleted === true || !!type.terminal?.(object), ev.created, owner?.type ?? null, owner?.id ?? null],
  );
  return r.rows[0]?.status ?? null;
}

export async function applyEvent(eventId: string, deps: ApplyDeps): Promise<ApplyStatus> {
  const refetching = !!deps.client && deps.config.STRIPE_REFETCH_TYPES.length > 0;
  const first = await eventReads(deps.db).call(eventId);
  if (!first) return 'missing';
  if (first.status !== 'pending') return first.status as ApplyStatus;
  // With refetching configured, the API read happens before the transaction (no network call holds a row lock).
  let fresh: { object: StripeObject | 'gone'; at: Date } | null = null;
  const payload = first.data.data.object as unknown as StripeObject;
  const t = objectType(String(payload?.object));
  if (refetching && t?.retrieve && deps.config.STRIPE_REFETCH_TYPES.includes(t.name)) {
    // Trust the API's current state over the payload: its time is the read time, so older events after it are stale.
    const at = new Date();
    fresh = { object: await retrieve(deps.client!, t.object, payload.id), at };
  }
  if (!fresh && t && PLAIN_TYPES.has(t.name) && !HAPPENINGS[first.type]) {
    const applied = await applyPlain(deps.db, first, t, payload, first.type.endsWith('.deleted'));
    if (applied) return applied;
    const now = await deps.db.query<{ status: ApplyStatus }>('SELECT status FROM stripe.event WHERE id = $1', [eventId]);
    return now.rows[0]?.status ?? 'missing';
  }

  // The event's data never changes once recorded (only its status does): the unlocked read above serves, and the
  // upsert's statement locks the event and checks it is still pending.
  const ev = first;
  const result = await deps.db.tx(async (tx) => {
    let object = payload;
    const type = t;
    let at = ev.created;
    let deleted = ev.type.endsWith('.deleted') && type?.name !== 'subscription';
    if (fresh) {
      at = fresh.at;
      if (fresh.object === 'gone') deleted = true;
      else {
        object = fresh.object;
        deleted = object.deleted === true;
      }
    }
    if (!type) {
      const done = await finish(tx, eventId, 'ignored', `object type ${String(object?.object)} is not mirrored`);
      return { status: done?.status ?? (await statusOf(tx, eventId)), products: [] };
    }
    const mirrorable = type.name === 'active_entitlement_summary' ? { ...object, id: String(object.customer) } : object;
    const outcome = await mirrorObject(tx, mirrorable, at, deleted, { lockEvent: eventId, deferEntitlements: true });
    if (!outcome?.locked) return { status: await statusOf(tx, eventId), products: [] as string[] };
    const status: ApplyStatus = outcome.applied ? 'applied' : 'stale';
    const billing: string[] = [];
    if (outcome.applied && type.name === 'subscription') billing.push(...subscriptionTransitions(outcome.previous, object));
    const happening = HAPPENINGS[ev.type];
    if (happening) billing.push(happening);
    if (outcome.applied && type.name === 'customer') await linkFromMetadata(tx, object);
    const customerId = type.name === 'customer' ? object.id : customerOf(object);
    const products =
      status === 'applied' && type.name === 'subscription'
        ? ((object.items?.data ?? []) as any[]).map((i) => (typeof i.price?.product === 'string' ? i.price.product : i.price?.product?.id)).filter(Boolean)
        : [];
    // One statement: the entitlements of the customer, the billing events, the ledger, and which of the
    // subscription's products the mirror lacks.
    const done = await finish(tx, eventId, status, status === 'stale' ? 'the mirror holds an equal or newer state' : null, {
      refreshEntitlementsOf: outcome.refreshEntitlementsOf ?? null,
      announce: billing.length ? { ev, types: billing, customerId, object } : null,
      products,
    });
    return { status, products: done?.missingProducts ?? [] };
  });
  if (result.products.length) await fetchMissingProducts(deps, result.products);
  return result.status;
}

/** What a ledger event became (another worker applied it while this one waited for its lock). */
async function statusOf(db: Queryable, id: string): Promise<ApplyStatus> {
  const r = await db.query<{ status: ApplyStatus }>('SELECT status FROM stripe.event WHERE id = $1', [id]);
  return r.rows[0]?.status ?? 'missing';
}

/**
 * Ends a pending ledger event, and in the same statement refreshes a customer's entitlements and records the
 * typed billing events of the change. Null when the event was not pending.
 */
async function finish(
  tx: Queryable,
  id: string,
  status: ApplyStatus,
  reason: string | null,
  also: {
    refreshEntitlementsOf?: string | null;
    announce?: { ev: { id: string }; types: string[]; customerId: string | null; object: StripeObject } | null;
    /** Product ids to check: the answer names those the mirror lacks. */
    products?: string[];
  } = {},
): Promise<{ status: ApplyStatus; missingProducts: string[] } | null> {
  const a = also.announce;
  const r = await tx.query<{ status: ApplyStatus; missing_products: string[] }>(
    `WITH refreshed AS (SELECT stripe.refresh_entitlements($4) AS x WHERE $4::text IS NOT NULL),
     announced AS (
       INSERT INTO stripe.billing_event (type, stripe_event_id, customer_id, owner_type, owner_id, object_id, data)
       SELECT t, $5, $6, l.owner_type, l.owner_id, $7, $8::jsonb
         FROM unnest($9::text[]) t LEFT JOIN stripe.customer_link l ON l.customer_id = $6
       ON CONFLICT (stripe_event_id, type) DO NOTHING)
     UPDATE stripe.event SET status = $2, reason = $3, applied_at = now()
      WHERE id = $1 AND status = 'pending' AND (SELECT count(*) FROM refreshed) >= 0
     RETURNING status,
       (SELECT coalesce(array_agg(p), '{}') FROM unnest($10::text[]) p WHERE NOT EXISTS (SELECT 1 FROM stripe.product WHERE id = p)) AS missing_products`,
    [id, status, reason, also.refreshEntitlementsOf ?? null, a?.ev.id ?? null, a?.customerId ?? null, a?.object.id ?? null, a ? billingSummary(a.object) : null, a?.types ?? [], [...new Set(also.products ?? [])]],
  );
  const row = r.rows[0];
  return row ? { status: row.status, missingProducts: row.missing_products } : null;
}

/** The app user or organisation a customer created outside the app (dashboard, another service) names. */
function ownerOfCustomer(customer: StripeObject): { type: string; id: string } | null {
  const owner = customer.metadata?.nself_owner_id;
  const ownerType = customer.metadata?.nself_owner_type ?? 'user';
  if (typeof owner !== 'string' || !owner || customer.deleted || !['user', 'organization'].includes(ownerType)) return null;
  return { type: ownerType, id: owner };
}

/** Customers created outside the app are linked when they name their app user. */
async function linkFromMetadata(tx: Queryable, customer: StripeObject): Promise<void> {
  const owner = ownerOfCustomer(customer);
  if (!owner) return;
  await tx.query(`INSERT INTO stripe.customer_link (owner_type, owner_id, customer_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [owner.type, owner.id, customer.id]);
}

/**
 * Mirrors the object a write action got back from the API, at once, and announces its transitions (the
 * webhook of the same change then finds an equal state and is stale). `source` names the write for the
 * billing events' key.
 */
export async function mirrorWrite(db: Db, object: StripeObject, source: string): Promise<void> {
  await db.tx(async (tx) => {
    const outcome = await mirrorObject(tx, object, new Date());
    if (!outcome?.applied || outcome.type.name !== 'subscription') return;
    const types = subscriptionTransitions(outcome.previous, object);
    if (types.length) await announce(tx, { id: source }, types, customerOf(object), object);
  });
}

/** What a typed billing event carries of the object. */
function billingSummary(object: StripeObject): Record<string, unknown> {
  return {
    objectType: object.object,
    status: object.status ?? null,
    amountDue: object.amount_due ?? null,
    currency: object.currency ?? null,
    hostedInvoiceUrl: object.hosted_invoice_url ?? null,
    trialEnd: object.trial_end ?? null,
  };
}

async function announce(tx: Queryable, ev: { id: string }, types: string[], customerId: string | null, object: StripeObject): Promise<void> {
  const summary = billingSummary(object);
  await tx.query(
    `INSERT INTO stripe.billing_event (type, stripe_event_id, customer_id, owner_type, owner_id, object_id, data)
     SELECT t, $2, $3, l.owner_type, l.owner_id, $4, $5
       FROM unnest($1::text[]) t LEFT JOIN stripe.customer_link l ON l.customer_id = $3
     ON CONFLICT (stripe_event_id, type) DO NOTHING`,
    [types, ev.id, customerId, object.id, summary],
  );
}

/** Products a subscription refers to but the mirror lacks (the product event is late or was never sent): read them. */
async function fetchMissingProducts(deps: ApplyDeps, missing: string[]): Promise<void> {
  if (!deps.client) return;
  for (const id of missing) {
    const readAt = new Date();
    const product = await retrieve(deps.client, 'product', id);
    if (product === 'gone') continue;
    await deps.db.tx((tx) => mirrorObject(tx, product, readAt));
  }
}
