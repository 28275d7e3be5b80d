/**
 * One Stripe customer per app user or organisation, linked in `stripe.customer_link`. Created on first need
 * with an idempotency key derived from the owner, so two concurrent first calls create one customer in Stripe
 * and one link here.
 */
import type Stripe from 'stripe';
import type { Queryable } from '../../../core/plugin.js';
import { stripeError } from './errors.js';
import { mirrorObject, type StripeObject } from './objects.js';
import { checkOrganization, type OrganizationAccess, type Organizations } from './organizations.js';

export type OwnerType = 'user' | 'organization';

export async function linkedCustomer(db: Queryable, ownerId: string, ownerType: OwnerType = 'user'): Promise<string | null> {
  const r = await db.query<{ customer_id: string }>(`SELECT customer_id FROM stripe.customer_link WHERE owner_type = $1 AND owner_id = $2`, [ownerType, ownerId]);
  return r.rows[0]?.customer_id ?? null;
}

export interface CustomerRequest {
  /** A customer id the caller names: it must be the owner's (admins may name any). */
  customerId?: string | null;
  /** Act for this organisation's customer (after the membership check) instead of the caller's own. */
  organizationId?: string | null;
  /** Create the owner's customer when there is none. */
  create: boolean;
  /** What the caller must be in the organisation: a billing manager (default) or any member. */
  access?: OrganizationAccess;
}

/**
 * The customer the caller acts on: its own (a user's) or, with `organizationId`, its organisation's after the
 * membership check. A named `customerId` must be that owner's; admins may name any customer. Without a link
 * yet, the owner's customer is created when `create`.
 */
export async function customerFor(
  deps: { db: Queryable; client?: Stripe; orgs?: Organizations },
  session: { role: string; userId: string | null },
  request: CustomerRequest,
): Promise<string> {
  const { db } = deps;
  let owner: { type: OwnerType; id: string };
  if (request.organizationId) {
    await checkOrganization(db, deps.orgs ?? { enabled: false }, session, request.organizationId, request.access ?? 'billing');
    owner = { type: 'organization', id: request.organizationId };
  } else {
    if (request.customerId && session.role === 'admin') return request.customerId;
    if (!session.userId) throw stripeError('stripe/no-user');
    owner = { type: 'user', id: session.userId };
  }
  const existing = await linkedCustomer(db, owner.id, owner.type);
  if (request.customerId) {
    if (existing !== request.customerId) throw stripeError('stripe/not-your-customer');
    return request.customerId;
  }
  if (existing) return existing;
  if (!request.create || !deps.client) throw stripeError('stripe/no-customer');
  // One key per owner: concurrent first calls get the same customer back from Stripe, and one link here.
  const customer = await deps.client.customers.create(
    { metadata: { nself_owner_type: owner.type, nself_owner_id: owner.id } },
    { idempotencyKey: `nself-customer-${owner.type}-${owner.id}` },
  );
  await db.query(`INSERT INTO stripe.customer_link (owner_type, owner_id, customer_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [owner.type, owner.id, customer.id]);
  await mirrorObject(db, customer as unknown as StripeObject, new Date(customer.created * 1000));
  return (await linkedCustomer(db, owner.id, owner.type))!;
}

/**
 * A mirrored subscription the caller may act on, or the 404 that hides others' subscriptions: the caller's
 * own, or with `organizationId` (after the billing-manager check) the organisation's.
 */
export async function ownSubscription(
  db: Queryable,
  session: { role: string; userId: string | null },
  id: string,
  org?: { orgs: Organizations; organizationId?: string | null },
): Promise<StripeObject> {
  const organizationId = org?.organizationId ?? null;
  if (organizationId) await checkOrganization(db, org!.orgs, session, organizationId, 'billing');
  const owner = organizationId ? { type: 'organization', id: organizationId } : { type: 'user', id: session.userId };
  const r = await db.query<{ data: StripeObject; customer_id: string; deleted: boolean }>(
    `SELECT s.data, s.customer_id, s.deleted FROM stripe.subscription s
       LEFT JOIN stripe.customer_link l ON l.customer_id = s.customer_id
      WHERE s.id = $1 AND (($2 AND $5::text IS NULL) OR (l.owner_type = $3 AND l.owner_id = $4))`,
    [id, session.role === 'admin', owner.type, owner.id, organizationId],
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

