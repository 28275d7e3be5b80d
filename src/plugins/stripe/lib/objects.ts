/**
 * Which Stripe objects are mirrored and how one lands in its table. Every table has the same shape (see the
 * migration); an upsert only overwrites a row whose state is not newer than the incoming one, and on a tie a
 * deleted or ended row stays as it is, so events applied in any order end on the newest state.
 */
import type { Queryable } from '../../../core/plugin.js';

export interface ObjectType {
  /** Stripe's `object` value (`checkout.session`, `billing.meter`, …). */
  object: string;
  /** Table in schema `stripe`. */
  table: string;
  /** Name in settings, backfill and the CLI. */
  name: string;
  /** States after which nothing changes (an ended subscription): they win ties. */
  terminal?: (o: StripeObject) => boolean;
  /** The API list path for backfill, when the type can be listed without a parent. */
  list?: string;
  /** Whether events of the type can be refetched from the API by id (a path with `{id}`). */
  retrieve?: string;
}

export type StripeObject = Record<string, any> & { id: string; object: string };

const T = (object: string, table: string, extra: Partial<ObjectType> = {}): ObjectType => ({ object, table, name: table, ...extra });

export const OBJECT_TYPES: readonly ObjectType[] = [
  T('customer', 'customer', { list: '/v1/customers', retrieve: '/v1/customers/{id}' }),
  T('product', 'product', { list: '/v1/products', retrieve: '/v1/products/{id}' }),
  T('price', 'price', { list: '/v1/prices', retrieve: '/v1/prices/{id}' }),
  T('subscription', 'subscription', {
    list: '/v1/subscriptions?status=all',
    retrieve: '/v1/subscriptions/{id}',
    terminal: (o) => o.status === 'canceled' || o.status === 'incomplete_expired',
  }),
  T('subscription_item', 'subscription_item'),
  T('invoice', 'invoice', { list: '/v1/invoices', retrieve: '/v1/invoices/{id}', terminal: (o) => o.status === 'void' }),
  T('line_item', 'invoice_line_item', { name: 'invoice_line_item' }),
  T('payment_intent', 'payment_intent', { list: '/v1/payment_intents', retrieve: '/v1/payment_intents/{id}' }),
  T('charge', 'charge', { list: '/v1/charges', retrieve: '/v1/charges/{id}' }),
  T('refund', 'refund', { list: '/v1/refunds', retrieve: '/v1/refunds/{id}' }),
  T('dispute', 'dispute', { list: '/v1/disputes', retrieve: '/v1/disputes/{id}' }),
  T('payment_method', 'payment_method', { retrieve: '/v1/payment_methods/{id}' }),
  T('checkout.session', 'checkout_session', { list: '/v1/checkout/sessions', retrieve: '/v1/checkout/sessions/{id}' }),
  T('coupon', 'coupon', { list: '/v1/coupons', retrieve: '/v1/coupons/{id}' }),
  T('promotion_code', 'promotion_code', { list: '/v1/promotion_codes', retrieve: '/v1/promotion_codes/{id}' }),
  T('tax_id', 'tax_id', { list: '/v1/tax_ids', retrieve: '/v1/tax_ids/{id}' }),
  T('setup_intent', 'setup_intent', { list: '/v1/setup_intents', retrieve: '/v1/setup_intents/{id}' }),
  T('billing.meter', 'meter', { list: '/v1/billing/meters', retrieve: '/v1/billing/meters/{id}' }),
  T('entitlements.active_entitlement_summary', 'active_entitlement_summary'),
];

const BY_OBJECT = new Map(OBJECT_TYPES.map((t) => [t.object, t]));
const BY_NAME = new Map(OBJECT_TYPES.map((t) => [t.name, t]));

export const objectType = (object: string): ObjectType | undefined => BY_OBJECT.get(object);
export const objectTypeByName = (name: string): ObjectType | undefined => BY_NAME.get(name);
/** Types a backfill can list. */
export const LISTABLE_TYPES = OBJECT_TYPES.filter((t) => t.list).map((t) => t.name);

const idOf = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' ? (v as { id: string }).id : null);

/** The Stripe customer an object belongs to (for the owner's read permission). */
export function customerOf(o: StripeObject): string | null {
  if (o.object === 'customer') return o.id;
  return idOf(o.customer);
}

export interface UpsertRow {
  type: ObjectType;
  object: StripeObject;
  /** Time of the state (event `created`, or the API read time). */
  at: Date;
  deleted?: boolean;
  parentId?: string | null;
  customerId?: string | null;
}

export interface UpsertOutcome {
  applied: boolean;
  /** The row's `data` before this upsert (null when new or not applied). */
  previous: StripeObject | null;
  /** With `lockEvent`: whether the event was still pending (nothing was written when it was not). */
  locked?: boolean;
}

/**
 * Upserts one object. `applied` is false when the row holds a newer (or an equally new ended) state.
 * Runs in the caller's transaction; the row lock of the conflict serialises concurrent upserts of one id.
 * With `lockEvent` the same statement first locks that ledger event and writes only if it is still pending,
 * and `children` (the parent's embedded rows) are synced by it too when the parent's upsert applies — one
 * round trip for what took three.
 */
export async function upsertObject(db: Queryable, row: UpsertRow, lockEvent?: string, children?: Children | null): Promise<UpsertOutcome> {
  const { type, object } = row;
  const deleted = !!row.deleted || object.deleted === true;
  const terminal = deleted || !!type.terminal?.(object);
  const params = [object.id, row.customerId ?? customerOf(object), row.parentId ?? null, object, deleted, terminal, row.at];
  const upsert = (source: string) => `INSERT INTO stripe.${type.table} AS t (id, customer_id, parent_id, data, deleted, terminal, last_event_at)
     SELECT $1::text, $2::text, $3::text, $4::jsonb, $5::boolean, $6::boolean, $7::timestamptz ${source}
     ON CONFLICT (id) DO UPDATE SET
       customer_id = coalesce(excluded.customer_id, t.customer_id), parent_id = coalesce(excluded.parent_id, t.parent_id),
       data = excluded.data, deleted = excluded.deleted, terminal = excluded.terminal,
       last_event_at = excluded.last_event_at, synced_at = now()
     WHERE t.last_event_at < excluded.last_event_at OR (t.last_event_at = excluded.last_event_at AND NOT t.terminal)
     RETURNING (SELECT data FROM prev) AS previous`;
  if (lockEvent) {
    const r = await db.query<{ locked: boolean; applied: boolean; previous: StripeObject | null }>(
      `WITH ev AS (SELECT id FROM stripe.event WHERE id = $8 AND status = 'pending' FOR UPDATE),
       prev AS (SELECT data FROM stripe.${type.table} WHERE id = $1 AND EXISTS (SELECT 1 FROM ev) FOR UPDATE),
       up AS (${upsert('FROM ev')})${children ? `,
       ${childCtes(children.type.table, 9, '$1::text', '$7::timestamptz', 'EXISTS (SELECT 1 FROM up)')}` : ''}
       SELECT EXISTS (SELECT 1 FROM ev) AS locked, EXISTS (SELECT 1 FROM up) AS applied, (SELECT previous FROM up) AS previous`,
      [...params, lockEvent, ...(children ? childArrays(children.type, row.customerId ?? customerOf(object), children.objects) : [])],
    );
    const out = r.rows[0]!;
    return { applied: out.applied, previous: out.previous ?? null, locked: out.locked };
  }
  const r = await db.query<{ previous: StripeObject | null }>(
    `WITH prev AS (SELECT data FROM stripe.${type.table} WHERE id = $1 FOR UPDATE)
     ${upsert('')}`,
    params,
  );
  return { applied: r.rowCount === 1, previous: r.rows[0]?.previous ?? null };
}

/** A parent's embedded children (subscription items, invoice lines) as listed in its payload. */
interface Children {
  type: ObjectType;
  objects: StripeObject[];
}

/** The arrays a children statement takes, in order: objects, customers, deleted flags, terminal flags, ids. */
function childArrays(type: ObjectType, customerId: string | null, children: StripeObject[]): unknown[] {
  // One row per id (the last listing wins), as one statement cannot upsert a row twice.
  const unique = [...new Map(children.map((c) => [c.id, c])).values()];
  return [
    unique.map((c) => JSON.stringify(c)),
    unique.map((c) => customerId ?? customerOf(c)),
    unique.map((c) => c.deleted === true),
    unique.map((c) => c.deleted === true || !!type.terminal?.(c)),
    unique.map((c) => c.id),
  ];
}

/**
 * Two CTEs (`kids`, `gone`): upsert the listed children with the newer-wins guard, and mark the parent's
 * children no longer listed as deleted (only when their state is not newer) — both only when `gate` holds.
 * `first` is the parameter number of the first of childArrays' five arrays.
 */
function childCtes(table: string, first: number, parent: string, at: string, gate: string): string {
  const [objects, customers, deleted, terminal, ids] = [0, 1, 2, 3, 4].map((i) => `$${first + i}`);
  return `kids AS (
       INSERT INTO stripe.${table} AS t (id, customer_id, parent_id, data, deleted, terminal, last_event_at)
       SELECT o ->> 'id', c, ${parent}, o, d, term, ${at}
         FROM unnest(${objects}::jsonb[], ${customers}::text[], ${deleted}::boolean[], ${terminal}::boolean[]) AS u(o, c, d, term)
        WHERE ${gate}
       ON CONFLICT (id) DO UPDATE SET
         customer_id = coalesce(excluded.customer_id, t.customer_id), parent_id = coalesce(excluded.parent_id, t.parent_id),
         data = excluded.data, deleted = excluded.deleted, terminal = excluded.terminal,
         last_event_at = excluded.last_event_at, synced_at = now()
       WHERE t.last_event_at < excluded.last_event_at OR (t.last_event_at = excluded.last_event_at AND NOT t.terminal)),
     gone AS (
       UPDATE stripe.${table} SET deleted = true, terminal = true, last_event_at = ${at}, synced_at = now()
        WHERE parent_id = ${parent} AND NOT (id = ANY(${ids}::text[])) AND NOT deleted AND last_event_at <= ${at} AND ${gate})`;
}

/**
 * Upserts a parent's embedded children (subscription items, invoice lines) and marks those of the parent
 * that are no longer listed as deleted, only when their state is not newer — one statement for them all.
 */
export async function syncChildren(db: Queryable, type: ObjectType, parentId: string, customerId: string | null, children: StripeObject[], at: Date): Promise<void> {
  await db.query(`WITH ${childCtes(type.table, 3, '$1::text', '$2::timestamptz', 'true')} SELECT 1`, [parentId, at, ...childArrays(type, customerId, children)]);
}

/** The children a payload embeds completely (a list with more pages is left to its own events). */
function childrenOf(type: ObjectType, object: StripeObject): Children | null {
  if (type.name === 'subscription' && Array.isArray(object.items?.data)) return { type: objectType('subscription_item')!, objects: object.items.data };
  if (type.name === 'invoice' && Array.isArray(object.lines?.data) && !object.lines.has_more) return { type: objectType('line_item')!, objects: object.lines.data };
  return null;
}

export interface MirrorOptions {
  /** Lock this ledger event in the upsert's statement and write nothing unless it is still pending. */
  lockEvent?: string;
  /** Leave the entitlement refresh to the caller (it is folded into the caller's next statement). */
  deferEntitlements?: boolean;
}

/**
 * Upserts an object and what it embeds; the outcome is the parent's. With `deferEntitlements`,
 * `refreshEntitlementsOf` names the customer whose entitlements the caller must refresh.
 */
export async function mirrorObject(
  db: Queryable,
  object: StripeObject,
  at: Date,
  deleted = false,
  opts: MirrorOptions = {},
): Promise<(UpsertOutcome & { type: ObjectType; refreshEntitlementsOf?: string | null }) | null> {
  const type = objectType(object.object);
  if (!type) return null;
  const children = childrenOf(type, object);
  const together = !!opts.lockEvent && !!children;
  const outcome = await upsertObject(db, { type, object, at, deleted }, opts.lockEvent, together ? children : null);
  if (!outcome.applied) return { ...outcome, type };
  const customerId = customerOf(object);
  if (children && !together) await syncChildren(db, children.type, object.id, customerId, children.objects, at);
  let refreshEntitlementsOf: string | null = null;
  if (customerId && (type.name === 'subscription' || type.name === 'active_entitlement_summary')) {
    if (opts.deferEntitlements) refreshEntitlementsOf = customerId;
    else await db.query('SELECT stripe.refresh_entitlements($1)', [customerId]);
  }
  if (type.name === 'product') {
    // A product's features changed: every customer subscribed to it gets its entitlements recomputed.
    await db.query(
      `SELECT stripe.refresh_entitlements(c) FROM (
         SELECT DISTINCT s.customer_id AS c FROM stripe.subscription_item i JOIN stripe.subscription s ON s.id = i.parent_id
          WHERE i.data -> 'price' ->> 'product' = $1 AND s.customer_id IS NOT NULL) x`,
      [object.id],
    );
  }
  return { ...outcome, type, refreshEntitlementsOf };
}

/** Types whose upsert has no side effects (no embedded children, no entitlements): a page is one statement. */
export const PLAIN_TYPES: ReadonlySet<string> = new Set(['customer', 'price', 'payment_intent', 'charge', 'refund', 'dispute', 'payment_method', 'checkout_session', 'coupon', 'promotion_code', 'tax_id', 'setup_intent', 'meter']);

/** Mirrors a page of one type read from the API at `at`: one statement for plain types, object by object otherwise. */
export async function mirrorPage(db: Queryable, objects: StripeObject[], at: Date): Promise<void> {
  if (!objects.length) return;
  const type = objectType(objects[0]!.object);
  if (!type || !PLAIN_TYPES.has(type.name) || objects.some((o) => o.object !== type.object)) {
    for (const o of objects) await mirrorObject(db, o, at);
    return;
  }
  await db.query(
    `INSERT INTO stripe.${type.table} AS t (id, customer_id, data, deleted, terminal, last_event_at)
     SELECT o ->> 'id', c, o, coalesce((o ->> 'deleted')::boolean, false), term, $4
       FROM unnest($1::jsonb[], $2::text[], $3::boolean[]) AS u(o, c, term)
     ON CONFLICT (id) DO UPDATE SET
       customer_id = coalesce(excluded.customer_id, t.customer_id), data = excluded.data, deleted = excluded.deleted,
       terminal = excluded.terminal, last_event_at = excluded.last_event_at, synced_at = now()
     WHERE t.last_event_at < excluded.last_event_at OR (t.last_event_at = excluded.last_event_at AND NOT t.terminal)`,
    [objects.map((o) => JSON.stringify(o)), objects.map(customerOf), objects.map((o) => o.deleted === true || !!type.terminal?.(o)), at],
  );
}
