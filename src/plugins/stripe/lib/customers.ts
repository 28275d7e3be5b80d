/**
 * One Stripe customer per app user, linked in `stripe.customer_link`. Created on first need with an idempotency
 * key derived from the user, so two concurrent first calls create one customer in Stripe and one link here.
 */
import type Stripe from 'stripe';
import type { Queryable } from '../../../core/plugin.js';
import { stripeError } from './errors.js';
import { mirrorObject, type StripeObject } from './objects.js';

export async function linkedCustomer(db: Queryable, userId: string): Promise<string | null> {
  const r = await db.query<{ customer_id: string }>(`SELECT customer_id FROM stripe.customer_link WHERE owner_type = 'user' AND owner_id = $1`, [userId]);
  return r.rows[0]?.customer_id ?? null;
}

/**
 * The customer the caller acts on: `requested` must be the caller's own (admins may name any); without it the
 * caller's linked customer, created when `create` and there is none.
 */
export async function customerFor(
  deps: { db: Queryable & { tx?: unknown }; client?: Stripe },
  session: { role: string; userId: string | null },
  requested: string | null | undefined,
  create: boolean,
): Promise<string> {
  const { db } = deps;
  if (requested) {
    if (session.role === 'admin') return requested;
    if (!session.userId) throw stripeError('stripe/no-user');
    const own = await db.query(`SELECT 1 FROM stripe.customer_link WHERE customer_id = $1 AND owner_type = 'user' AND owner_id = $2`, [requested, session.userId]);
    if (!own.rowCount) throw stripeError('stripe/not-your-customer');
    return requested;
  }
  if (!session.userId) throw stripeError('stripe/no-user');
  const existing = await linkedCustomer(db, session.userId);
  if (existing) return existing;
  if (!create || !deps.client) throw stripeError('stripe/no-customer');
  const customer = await deps.client.customers.create(
    { metadata: { nself_owner_type: 'user', nself_owner_id: session.userId } },
    { idempotencyKey: `nself-customer-user-${session.userId}` },
  );
  await db.query(`INSERT INTO stripe.customer_link (owner_type, owner_id, customer_id) VALUES ('user', $1, $2) ON CONFLICT DO NOTHING`, [session.userId, customer.id]);
  await mirrorObject(db, customer as unknown as StripeObject, new Date(customer.created * 1000));
  return (await linkedCustomer(db, session.userId))!;
}

/** A mirrored subscription the caller may act on, or the 404 that hides others' subscriptions. */
export async function ownSubscription(db: Queryable, session: { role: string; userId: string | null }, id: string): Promise<StripeObject> {
  const r = await db.query<{ data: StripeObject; customer_id: string; deleted: boolean }>(
    `SELECT s.data, s.customer_id, s.deleted FROM stripe.subscription s
       LEFT JOIN stripe.customer_link l ON l.customer_id = s.customer_id
      WHERE s.id = $1 AND ($2 OR (l.owner_type = 'user' AND l.owner_id = $3))`,
    [id, session.role === 'admin', session.userId],
  );
  const row = r.rows[0];
  if (!row) throw stripeError('stripe/unknown-subscription');
  return row.data;
}

export interface PriceRow {
  id: string;
  active: boolean;
  type: string;
  product_id: string;
  product_active: boolean | null;
  deleted: boolean;
}

/** Prices by id from the mirror: unknown ones are a 404, archived ones (or of an archived product) a 409. */
export async function usablePrices(db: Queryable, ids: string[]): Promise<PriceRow[]> {
  const r = await db.query<PriceRow>(
    `SELECT p.id, p.active, p.type, p.product_id, pr.active AS product_active, p.deleted
       FROM stripe.price p LEFT JOIN stripe.product pr ON pr.id = p.product_id WHERE p.id = ANY($1::text[])`,
    [ids],
  );
  for (const id of ids) {
    const p = r.rows.find((x) => x.id === id);
    if (!p || p.deleted) throw stripeError('stripe/unknown-price', `no price ${id}`);
    if (!p.active || p.product_active === false) throw stripeError('stripe/archived-price', `price ${id} is archived`);
  }
  return ids.map((id) => r.rows.find((x) => x.id === id)!);
}

