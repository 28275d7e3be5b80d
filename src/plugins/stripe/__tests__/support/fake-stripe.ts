/**
 * A strict local stand-in for api.stripe.com (which tests cannot reach), for the real `stripe` client pointed at
 * it with host/port/protocol. It refuses what Stripe refuses: a missing or wrong secret key, a missing or
 * different Stripe-Version, a POST body that is not form-encoded, unknown and missing parameters, an
 * idempotency key reused with other parameters, a `starting_after` that names no object, limits outside 1–100.
 * It answers with objects shaped as the `stripe` package's types, lists newest first with `has_more`, and on
 * demand a storm of 429s or dropped connections.
 */
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import qs from 'qs';
import Stripe from 'stripe';

export const FAKE_KEY = 'sk_test_fakeStripeKey0123456789';
export const FAKE_WEBHOOK_SECRET = 'whsec_fakeStripeWebhookSecret0123456789';
/** The API version the installed `stripe` package pins (and sends). */
export const API_VERSION = new Stripe(FAKE_KEY).getApiField('version') as string;

type Obj = Record<string, any> & { id: string; object: string };

class ApiError extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly code?: string, readonly param?: string) {
    super(message);
  }
}

const missing = (param: string) => new ApiError(400, 'invalid_request_error', `Missing required param: ${param}.`, 'parameter_missing', param);
const unknownParam = (param: string) => new ApiError(400, 'invalid_request_error', `Received unknown parameter: ${param}`, 'parameter_unknown', param);
const noSuch = (kind: string, id: string, status = 404) => new ApiError(status, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', 'id');

let seq = 0;
export const newId = (prefix: string) => `${prefix}_${(++seq).toString(36).padStart(6, '0')}${randomBytes(6).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

/** Collections by API path, with the Stripe `object` they hold and their id prefix. */
const COLLECTIONS: Record<string, { object: string; prefix: string; kind: string; listParams?: string[] }> = {
  customers: { object: 'customer', prefix: 'cus', kind: 'customer', listParams: ['email'] },
  products: { object: 'product', prefix: 'prod', kind: 'product', listParams: ['active'] },
  prices: { object: 'price', prefix: 'price', kind: 'price', listParams: ['active', 'product'] },
  subscriptions: { object: 'subscription', prefix: 'sub', kind: 'subscription', listParams: ['status', 'customer', 'price'] },
  invoices: { object: 'invoice', prefix: 'in', kind: 'invoice', listParams: ['customer', 'subscription', 'status'] },
  payment_intents: { object: 'payment_intent', prefix: 'pi', kind: 'payment_intent', listParams: ['customer'] },
  charges: { object: 'charge', prefix: 'ch', kind: 'charge', listParams: ['customer'] },
  refunds: { object: 'refund', prefix: 're', kind: 'refund', listParams: ['charge'] },
  disputes: { object: 'dispute', prefix: 'dp', kind: 'dispute', listParams: ['charge'] },
  payment_methods: { object: 'payment_method', prefix: 'pm', kind: 'payment_method', listParams: ['customer', 'type'] },
  'checkout/sessions': { object: 'checkout.session', prefix: 'cs_test', kind: 'checkout.session', listParams: ['customer', 'status'] },
  coupons: { object: 'coupon', prefix: 'co', kind: 'coupon' },
  promotion_codes: { object: 'promotion_code', prefix: 'promo', kind: 'promotion_code', listParams: ['active', 'code'] },
  tax_ids: { object: 'tax_id', prefix: 'txi', kind: 'tax_id' },
  setup_intents: { object: 'setup_intent', prefix: 'seti', kind: 'setup_intent', listParams: ['customer'] },
  'billing/meters': { object: 'billing.meter', prefix: 'mtr', kind: 'billing.meter', listParams: ['status'] },
  webhook_endpoints: { object: 'webhook_endpoint', prefix: 'we', kind: 'webhook_endpoint' },
};

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, any>;
  headers: http.IncomingHttpHeaders;
  status: number;
}

export class FakeStripe {
  readonly store = new Map<string, Map<string, Obj>>();
  readonly requests: RecordedRequest[] = [];
  readonly meterEvents: Array<Record<string, any>> = [];
  #idempotency = new Map<string, { hash: string; status: number; body: string }>();
  #server: http.Server;
  #rateLimited = 0;
  #rateLimitPath: string | null = null;
  #drops = 0;
  /** Newest-first arrays and positions per collection, so paging 100,000 objects stays linear. */
  #listCache = new Map<string, { all: Obj[]; at: Map<string, number> }>();
  #rateLimitAfter = 0;
  #dropAfter = 0;
  port = 0;

  constructor(readonly key = FAKE_KEY, readonly apiVersion = API_VERSION) {
    for (const c of Object.keys(COLLECTIONS)) this.store.set(c, new Map());
    this.#server = http.createServer((req, res) => this.#serve(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /** The `stripe` client options that point it here. */
  get env(): Record<string, string> {
    return { STRIPE_SECRET_KEY: this.key, STRIPE_API_HOST: '127.0.0.1', STRIPE_API_PORT: String(this.port), STRIPE_API_PROTOCOL: 'http' };
  }

  /**
   * After `after` more requests (to paths starting with `pathPrefix`, when given) have been answered, the next
   * `n` such requests get a 429.
   */
  rateLimit(n: number, pathPrefix: string | null = null, after = 0): void {
    this.#rateLimited = n;
    this.#rateLimitPath = pathPrefix;
    this.#rateLimitAfter = after;
  }

  /** After `after` more requests, the next `n` have their connection dropped before an answer (a network failure). */
  drop(n: number, after = 0): void {
    this.#drops = n;
    this.#dropAfter = after;
  }

  put(collection: keyof typeof COLLECTIONS | string, o: Obj): Obj {
    this.store.get(collection)!.set(o.id, o);
    this.#listCache.delete(collection);
    return o;
  }

  get(collection: string, id: string): Obj | undefined {
    return this.store.get(collection)!.get(id);
  }

  /* ------------------------------------------------------------ object builders (shaped as the package's types) */

  customer(p: { email?: string; metadata?: Record<string, string> } = {}): Stripe.Customer {
    const c: Pick<Stripe.Customer, 'id' | 'object' | 'created' | 'livemode' | 'email' | 'name' | 'metadata' | 'balance' | 'default_source' | 'description' | 'invoice_settings' | 'shipping'> = {
      id: newId('cus'), object: 'customer', created: now(), livemode: false, email: p.email ?? null, name: null, metadata: p.metadata ?? {},
      balance: 0, default_source: null, description: null, invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null }, shipping: null,
    };
    return this.put('customers', c as Obj) as unknown as Stripe.Customer;
  }

  product(p: { name?: string; active?: boolean; metadata?: Record<string, string> } = {}): Stripe.Product {
    const o: Pick<Stripe.Product, 'id' | 'object' | 'active' | 'created' | 'updated' | 'livemode' | 'name' | 'description' | 'metadata' | 'images' | 'marketing_features' | 'type' | 'url' | 'shippable' | 'package_dimensions' | 'tax_details'> = {
      id: newId('prod'), object: 'product', active: p.active ?? true, created: now(), updated: now(), livemode: false, name: p.name ?? 'Pro',
      description: null, metadata: p.metadata ?? {}, images: [], marketing_features: [], type: 'service', url: null, shippable: null, package_dimensions: null, tax_details: null,
    };
    return this.put('products', o as Obj) as unknown as Stripe.Product;
  }

  price(p: { product: string; unitAmount?: number; recurring?: 'month' | 'year' | null; active?: boolean; metered?: boolean }): Stripe.Price {
    const o: Pick<Stripe.Price, 'id' | 'object' | 'active' | 'billing_scheme' | 'created' | 'currency' | 'livemode' | 'lookup_key' | 'metadata' | 'nickname' | 'product' | 'recurring' | 'tax_behavior' | 'tiers_mode' | 'transform_quantity' | 'type' | 'unit_amount' | 'custom_unit_amount'> = {
      id: newId('price'), object: 'price', active: p.active ?? true, billing_scheme: 'per_unit', created: now(), currency: 'usd', livemode: false, lookup_key: null, metadata: {},
      nickname: null, product: p.product,
      recurring: p.recurring === null ? null : { interval: p.recurring ?? 'month', interval_count: 1, meter: null, usage_type: p.metered ? 'metered' : 'licensed', trial_period_days: null },
      tax_behavior: 'unspecified', tiers_mode: null, transform_quantity: null, type: p.recurring === null ? 'one_time' : 'recurring', unit_amount: p.unitAmount ?? 1000,
      custom_unit_amount: null,
    };
    // On the wire a decimal is a string (the package's type wraps it in a Decimal class when parsing).
    return this.put('prices', { ...o, unit_amount_decimal: String(p.unitAmount ?? 1000) } as Obj) as unknown as Stripe.Price;
  }

  subscription(p: { customer: string; price: string; status?: Stripe.Subscription.Status; quantity?: number }): Stripe.Subscription {
    const id = newId('sub');
    const price = this.get('prices', p.price);
    if (!price) throw new Error(`no price ${p.price}`);
    const item: Pick<Stripe.SubscriptionItem, 'id' | 'object' | 'created' | 'current_period_end' | 'current_period_start' | 'metadata' | 'price' | 'quantity' | 'subscription' | 'discounts' | 'tax_rates' | 'billing_thresholds'> = {
      id: newId('si'), object: 'subscription_item', created: now(), current_period_start: now(), current_period_end: now() + 30 * 86400, metadata: {},
      price: price as unknown as Stripe.Price, quantity: p.quantity ?? 1, subscription: id, discounts: [], tax_rates: [], billing_thresholds: null,
    };
    const o: Pick<Stripe.Subscription, 'id' | 'object' | 'created' | 'customer' | 'status' | 'cancel_at_period_end' | 'cancel_at' | 'canceled_at' | 'ended_at' | 'currency' | 'livemode' | 'metadata' | 'start_date' | 'trial_end' | 'trial_start' | 'collection_method' | 'latest_invoice' | 'default_payment_method'> & { items: { object: 'list'; data: unknown[]; has_more: boolean; url: string } } = {
      id, object: 'subscription', created: now(), customer: p.customer, status: p.status ?? 'active', cancel_at_period_end: false, cancel_at: null, canceled_at: null,
      ended_at: null, currency: 'usd', livemode: false, metadata: {}, start_date: now(), trial_end: null, trial_start: null, collection_method: 'charge_automatically',
      latest_invoice: null, default_payment_method: null, items: { object: 'list', data: [item], has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    };
    return this.put('subscriptions', o as Obj) as unknown as Stripe.Subscription;
  }

  invoice(p: { customer: string; subscription?: string; status?: Stripe.Invoice.Status; amountDue?: number }): Stripe.Invoice {
    const id = newId('in');
    const o: Pick<Stripe.Invoice, 'id' | 'object' | 'created' | 'customer' | 'status' | 'currency' | 'total' | 'subtotal' | 'amount_due' | 'amount_paid' | 'amount_remaining' | 'attempt_count' | 'number' | 'livemode' | 'metadata' | 'hosted_invoice_url' | 'invoice_pdf' | 'parent' | 'period_start' | 'period_end'> & { lines: { object: 'list'; data: unknown[]; has_more: boolean; url: string } } = {
      id, object: 'invoice', created: now(), customer: p.customer, status: p.status ?? 'open', currency: 'usd', total: p.amountDue ?? 1000, subtotal: p.amountDue ?? 1000,
      amount_due: p.amountDue ?? 1000, amount_paid: p.status === 'paid' ? (p.amountDue ?? 1000) : 0, amount_remaining: p.status === 'paid' ? 0 : (p.amountDue ?? 1000), attempt_count: 1,
      number: `INV-${seq}`, livemode: false, metadata: {}, hosted_invoice_url: `https://invoice.stripe.test/${id}`, invoice_pdf: `https://invoice.stripe.test/${id}.pdf`,
      parent: p.subscription ? { type: 'subscription_details', quote_details: null, subscription_details: { metadata: null, subscription: p.subscription } } : null,
      period_start: now(), period_end: now(), lines: { object: 'list', data: [], has_more: false, url: `/v1/invoices/${id}/lines` },
    };
    return this.put('invoices', o as Obj) as unknown as Stripe.Invoice;
  }

  meter(p: { eventName: string; status?: 'active' | 'inactive' }): Stripe.Billing.Meter {
    const o: Pick<Stripe.Billing.Meter, 'id' | 'object' | 'created' | 'updated' | 'display_name' | 'event_name' | 'livemode' | 'status' | 'event_time_window'> = {
      id: newId('mtr'), object: 'billing.meter', created: now(), updated: now(), display_name: p.eventName, event_name: p.eventName, livemode: false,
      status: p.status ?? 'active', event_time_window: null,
    };
    return this.put('billing/meters', o as Obj) as unknown as Stripe.Billing.Meter;
  }

  /** A webhook event around `object` (a copy: later changes to the store do not leak into it). */
  event(type: string, object: object, created = now(), previous?: Record<string, unknown>): Stripe.Event {
    return {
      id: newId('evt'), object: 'event', api_version: this.apiVersion, created, livemode: false, pending_webhooks: 1, type,
      request: { id: null, idempotency_key: null }, data: { object: structuredClone(object), ...(previous ? { previous_attributes: previous } : {}) },
    } as unknown as Stripe.Event;
  }

  /* ------------------------------------------------------------ serving */

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, params: {}, headers: req.headers, status: 0 };
      this.requests.push(record);
      const send = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(6).toString('hex')}`, ...extra });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      };
      if (this.#drops > 0 && this.#dropAfter-- <= 0) {
        this.#drops--;
        record.status = -1;
        req.socket.destroy();
        return;
      }
      if (this.#rateLimited > 0 && (!this.#rateLimitPath || url.pathname.startsWith(this.#rateLimitPath)) && this.#rateLimitAfter-- <= 0) {
        this.#rateLimited--;
        return send(429, { error: { type: 'rate_limit_error', message: 'Too many requests hit the API too quickly.', code: 'rate_limit' } });
      }
      try {
        const auth = req.headers.authorization;
        if (auth !== `Bearer ${this.key}`) {
          throw new ApiError(401, 'invalid_request_error', auth ? 'Invalid API Key provided.' : 'You did not provide an API key.');
        }
        const version = req.headers['stripe-version'];
        if (version !== this.apiVersion) throw new ApiError(400, 'invalid_request_error', `Invalid Stripe API version: ${String(version)}`, 'api_version_invalid');
        let params: Record<string, any>;
        if (req.method === 'POST') {
          const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
          if (type !== 'application/x-www-form-urlencoded') throw new ApiError(400, 'invalid_request_error', 'Invalid request: bodies must be form-encoded.');
          params = qs.parse(body, { depth: 10, arrayLimit: 100 }) as Record<string, any>;
        } else {
          if (body) throw new ApiError(400, 'invalid_request_error', 'GET and DELETE requests take no body.');
          params = qs.parse(url.search.slice(1), { depth: 10 }) as Record<string, any>;
        }
        record.params = params;
        const key = req.headers['idempotency-key'];
        if (req.method === 'POST' && typeof key === 'string') {
          const hash = createHash('sha256').update(`${req.method} ${url.pathname} ${body}`).digest('hex');
          const prior = this.#idempotency.get(key);
          if (prior) {
            if (prior.hash !== hash) {
              throw new ApiError(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.');
            }
            return send(prior.status, prior.body, { 'idempotent-replayed': 'true' });
          }
          const [status, out] = this.#route(req.method, url.pathname, params);
          const text = JSON.stringify(out);
          // Stripe keeps the result of a request that reached it, errors included (except 429 and 5xx).
          this.#idempotency.set(key, { hash, status, body: text });
          return send(status, text);
        }
        const [status, out] = this.#route(req.method ?? 'GET', url.pathname, params);
        send(status, out);
      } catch (e) {
        if (e instanceof ApiError) {
          return send(e.status, { error: { type: e.type, message: e.message, ...(e.code ? { code: e.code } : {}), ...(e.param ? { param: e.param } : {}) } });
        }
        send(500, { error: { type: 'api_error', message: (e as Error).message } });
      }
    });
  }

  #route(method: string, path: string, params: Record<string, any>): [number, unknown] {
    const m = /^\/v1\/(.+?)(?:\/([A-Za-z0-9_]+))?$/.exec(path);
    if (!m) throw new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
    let [, coll, id] = m as unknown as [string, string, string | undefined];
    // Two-segment collections (checkout/sessions, billing/meters, billing/meter_events).
    if (id && !COLLECTIONS[coll!] && (COLLECTIONS[`${coll}/${id}`] || `${coll}/${id}` === 'billing/meter_events')) {
      coll = `${coll}/${id}`;
      id = undefined;
    }
    const special = this.#special(method, coll!, id, params);
    if (special) return special;
    const c = COLLECTIONS[coll!];
    if (!c) throw new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
    if (method === 'GET' && id) {
      allow(params, []);
      const o = this.get(coll!, id);
      if (!o) throw noSuch(c.kind, id);
      return [200, o];
    }
    if (method === 'GET') return [200, this.#list(coll!, params, c.listParams ?? [])];
    if (method === 'POST' && coll === 'customers' && !id) {
      allow(params, ['email', 'name', 'metadata', 'description', 'phone']);
      const cus = this.customer({ email: params.email, metadata: params.metadata });
      return [200, cus];
    }
    throw new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
  }

  #list(coll: string, params: Record<string, any>, filters: string[]): unknown {
    allow(params, ['limit', 'starting_after', 'ending_before', ...filters]);
    const limit = params.limit === undefined ? 10 : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, 'invalid_request_error', 'Invalid integer: limit must be between 1 and 100', 'parameter_invalid_integer', 'limit');
    let cached = this.#listCache.get(coll);
    if (!cached) {
      const arr = [...this.store.get(coll)!.values()].reverse();
      cached = { all: arr, at: new Map(arr.map((o, i) => [o.id, i])) };
      this.#listCache.set(coll, cached);
    }
    let all = cached.all;
    let filtered = false;
    for (const f of filters) {
      if (params[f] === undefined || (f === 'status' && params[f] === 'all')) continue;
      all = all.filter((o) => String(typeof o[f] === 'object' && o[f] ? o[f].id : o[f]) === String(params[f]));
      filtered = true;
    }
    if (coll === 'subscriptions' && params.status === undefined) {
      all = all.filter((o) => o.status !== 'canceled');
      filtered = true;
    }
    let start = 0;
    if (params.starting_after !== undefined) {
      const i = filtered ? all.findIndex((o) => o.id === params.starting_after) : (cached.at.get(String(params.starting_after)) ?? -1);
      if (i < 0) throw noSuch(COLLECTIONS[coll]!.kind, String(params.starting_after), 400);
      start = i + 1;
    }
    const data = all.slice(start, start + limit);
    return { object: 'list', data, has_more: start + limit < all.length, url: `/v1/${coll}` };
  }

  #special(method: string, coll: string, id: string | undefined, p: Record<string, any>): [number, unknown] | null {
    if (method === 'POST' && coll === 'checkout/sessions' && !id) {
      allow(p, ['mode', 'customer', 'line_items', 'success_url', 'cancel_url', 'client_reference_id', 'subscription_data', 'allow_promotion_codes', 'discounts', 'automatic_tax', 'customer_update', 'tax_id_collection', 'metadata']);
      for (const r of ['mode', 'line_items', 'success_url']) if (p[r] === undefined) throw missing(r);
      if (!['payment', 'subscription', 'setup'].includes(p.mode)) throw new ApiError(400, 'invalid_request_error', `Invalid mode: ${p.mode}`, 'parameter_invalid_string', 'mode');
      if (p.customer && !this.get('customers', p.customer)) throw noSuch('customer', p.customer, 400);
      if (p.allow_promotion_codes && p.discounts) throw new ApiError(400, 'invalid_request_error', 'You may only specify one of these parameters: allow_promotion_codes, discounts.');
      if (p.customer_update && !p.customer) throw new ApiError(400, 'invalid_request_error', 'customer_update can only be used with customer.');
      const items = Array.isArray(p.line_items) ? p.line_items : Object.values(p.line_items ?? {});
      let recurring = 0;
      for (const [i, li] of items.entries()) {
        const price = this.get('prices', (li as any).price);
        if (!price) throw noSuch('price', String((li as any).price), 400);
        if (!price.active) throw new ApiError(400, 'invalid_request_error', `The price specified is inactive. This field only accepts active prices.`, undefined, `line_items[${i}][price]`);
        if (price.type === 'recurring') recurring++;
      }
      if (p.mode === 'subscription' && !recurring) throw new ApiError(400, 'invalid_request_error', 'You must provide at least one recurring price in `subscription` mode when using prices.');
      if (p.mode === 'payment' && recurring) throw new ApiError(400, 'invalid_request_error', 'You specified `payment` mode but passed a recurring price.');
      const sid = newId('cs_test');
      const session = {
        id: sid, object: 'checkout.session', created: now(), expires_at: now() + 86400, livemode: false, mode: p.mode, status: 'open', customer: p.customer ?? null,
        url: `https://checkout.stripe.test/c/pay/${sid}`, success_url: p.success_url, cancel_url: p.cancel_url ?? null, client_reference_id: p.client_reference_id ?? null,
        allow_promotion_codes: p.allow_promotion_codes === 'true', automatic_tax: { enabled: p.automatic_tax?.enabled === 'true', liability: null, status: null }, metadata: p.metadata ?? {},
        payment_status: 'unpaid', subscription: null, invoice: null, payment_intent: null,
      };
      return [200, this.put('checkout/sessions', session)];
    }
    if (method === 'POST' && coll === 'billing_portal' && id === 'sessions') {
      allow(p, ['customer', 'return_url', 'configuration', 'locale']);
      if (!p.customer) throw missing('customer');
      if (!this.get('customers', p.customer)) throw noSuch('customer', p.customer, 400);
      return [200, { id: newId('bps'), object: 'billing_portal.session', created: now(), customer: p.customer, livemode: false, return_url: p.return_url ?? null, url: `https://billing.stripe.test/p/session/${newId('x')}` }];
    }
    if (method === 'POST' && coll === 'setup_intents' && !id) {
      allow(p, ['customer', 'usage', 'automatic_payment_methods', 'payment_method_types']);
      if (p.customer && !this.get('customers', p.customer)) throw noSuch('customer', p.customer, 400);
      const sid = newId('seti');
      return [200, this.put('setup_intents', { id: sid, object: 'setup_intent', created: now(), customer: p.customer ?? null, livemode: false, status: 'requires_payment_method', usage: p.usage ?? 'off_session', client_secret: `${sid}_secret_${randomBytes(8).toString('hex')}` })];
    }
    if (method === 'POST' && coll === 'ephemeral_keys' && !id) {
      allow(p, ['customer']);
      if (!p.customer) throw missing('customer');
      if (!this.get('customers', p.customer)) throw noSuch('customer', p.customer, 400);
      return [200, { id: newId('ephkey'), object: 'ephemeral_key', created: now(), expires: now() + 3600, livemode: false, secret: `ek_test_${randomBytes(12).toString('hex')}`, associated_objects: [{ id: p.customer, type: 'customer' }] }];
    }
    if (coll === 'subscriptions' && id && (method === 'POST' || method === 'DELETE')) {
      const sub = this.get('subscriptions', id);
      if (!sub) throw noSuch('subscription', id);
      if (sub.status === 'canceled') throw new ApiError(400, 'invalid_request_error', 'A canceled subscription can only update its cancellation_details and metadata.');
      if (method === 'DELETE') {
        allow(p, ['invoice_now', 'prorate']);
        Object.assign(sub, { status: 'canceled', canceled_at: now(), ended_at: now() });
        return [200, sub];
      }
      allow(p, ['items', 'proration_behavior', 'cancel_at_period_end', 'metadata']);
      if (p.cancel_at_period_end !== undefined) sub.cancel_at_period_end = p.cancel_at_period_end === 'true';
      if (p.proration_behavior !== undefined && !['create_prorations', 'none', 'always_invoice'].includes(p.proration_behavior)) throw new ApiError(400, 'invalid_request_error', 'Invalid proration_behavior', undefined, 'proration_behavior');
      const items = p.items ? (Array.isArray(p.items) ? p.items : Object.values(p.items)) : [];
      for (const it of items as any[]) {
        const item = sub.items.data.find((x: any) => x.id === it.id);
        if (!item) throw noSuch('subscription item', String(it.id), 400);
        if (it.price) {
          const price = this.get('prices', it.price);
          if (!price) throw noSuch('price', it.price, 400);
          if (!price.active) throw new ApiError(400, 'invalid_request_error', 'The price specified is inactive.');
          item.price = price;
        }
        if (it.quantity) item.quantity = Number(it.quantity);
      }
      return [200, sub];
    }
    if (method === 'POST' && coll === 'invoices' && id === 'create_preview') {
      allow(p, ['customer', 'subscription', 'subscription_details']);
      if (!p.customer && !p.subscription) throw missing('customer');
      const sub = p.subscription ? this.get('subscriptions', p.subscription) : undefined;
      if (p.subscription && !sub) throw noSuch('subscription', p.subscription, 400);
      const change = (p.subscription_details?.items ?? [])[0] ?? (p.subscription_details?.items ? Object.values(p.subscription_details.items)[0] : undefined);
      const newPrice = change?.price ? this.get('prices', change.price) : undefined;
      if (change?.price && !newPrice) throw noSuch('price', change.price, 400);
      const old = sub?.items.data[0];
      const credit = -(old?.price.unit_amount ?? 0) * (old?.quantity ?? 1) / 2;
      const debit = (newPrice?.unit_amount ?? 0) * Number(change?.quantity ?? 1) / 2;
      const lines = [
        { id: newId('il'), object: 'line_item', amount: Math.round(credit), description: 'Unused time', parent: { type: 'subscription_item_details', subscription_item_details: { proration: true, subscription: p.subscription, subscription_item: old?.id, invoice_item: null, proration_details: null }, invoice_item_details: null } },
        { id: newId('il'), object: 'line_item', amount: Math.round(debit), description: 'Remaining time', parent: { type: 'subscription_item_details', subscription_item_details: { proration: true, subscription: p.subscription, subscription_item: old?.id, invoice_item: null, proration_details: null }, invoice_item_details: null } },
      ];
      const total = lines.reduce((s, l) => s + l.amount, 0);
      return [200, { id: null, object: 'invoice', customer: p.customer ?? sub?.customer, currency: 'usd', total, amount_due: Math.max(0, total), lines: { object: 'list', data: lines, has_more: false, url: '/v1/invoices/upcoming/lines' } }];
    }
    if (method === 'POST' && coll === 'billing/meter_events') {
      allow(p, ['event_name', 'payload', 'identifier', 'timestamp']);
      if (!p.event_name) throw missing('event_name');
      if (!p.payload?.stripe_customer_id) throw missing('payload[stripe_customer_id]');
      if (p.payload?.value === undefined) throw missing('payload[value]');
      if (!/^\d+$/.test(String(p.payload.value))) throw new ApiError(400, 'invalid_request_error', 'payload[value] must be a whole number', undefined, 'payload[value]');
      if (![...this.store.get('billing/meters')!.values()].some((mt) => mt.event_name === p.event_name && mt.status === 'active')) {
        throw new ApiError(400, 'invalid_request_error', `No active meter was found for event name ${p.event_name}`);
      }
      if (p.identifier && this.meterEvents.some((e) => e.identifier === p.identifier)) throw new ApiError(400, 'invalid_request_error', `An event already exists with identifier ${p.identifier}`);
      const ev = { object: 'billing.meter_event', created: now(), event_name: p.event_name, identifier: p.identifier ?? newId('mev'), livemode: false, payload: p.payload, timestamp: now() };
      this.meterEvents.push(ev);
      return [200, ev];
    }
    if (method === 'POST' && coll === 'webhook_endpoints') {
      allow(p, ['url', 'enabled_events', 'description', 'api_version', 'metadata']);
      const events = p.enabled_events ? (Array.isArray(p.enabled_events) ? p.enabled_events : Object.values(p.enabled_events)) : undefined;
      if (id) {
        const we = this.get('webhook_endpoints', id);
        if (!we) throw noSuch('webhook endpoint', id);
        if (p.url) we.url = p.url;
        if (events) we.enabled_events = events;
        return [200, we];
      }
      if (!p.url) throw missing('url');
      if (!events) throw missing('enabled_events');
      const we = { id: newId('we'), object: 'webhook_endpoint', created: now(), url: p.url, enabled_events: events, status: 'enabled', livemode: false, metadata: p.metadata ?? {}, api_version: p.api_version ?? null, secret: `whsec_${randomBytes(16).toString('hex')}`, description: p.description ?? null };
      this.put('webhook_endpoints', we);
      return [200, we];
    }
    return null;
  }
}

function allow(params: Record<string, any>, names: string[]): void {
  for (const k of Object.keys(params)) if (!names.includes(k)) throw unknownParam(k);
}

/** Posts `event` to the plugin's webhook route, signed as Stripe signs (or with `header` instead). */
export async function deliver(baseUrl: string, event: unknown, opts: { secret?: string; header?: string | null; timestamp?: number } = {}): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify(event);
  const header =
    opts.header !== undefined
      ? opts.header
      : Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? FAKE_WEBHOOK_SECRET, ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) });
  const res = await fetch(`${baseUrl}/hooks/stripe/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(header === null ? {} : { 'stripe-signature': header }) },
    body: payload,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}
