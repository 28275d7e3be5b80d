import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { customerFor } from '../../src/plugins/stripe/lib/customers.js';
import { invoicesInput, parseInput } from '../../src/plugins/stripe/lib/input.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeInvoice } from '../../src/generated/actions.js';

/** The caller's (or its organisation's) invoices from the mirror (no API call): none yet when the caller has no customer. */
export const stripeInvoices: ActionHandler<unknown, StripeInvoice[], StripeConfig> = async (input, ctx) => {
  const v = parseInput(invoicesInput, input);
  let customer: string;
  try {
    customer = await customerFor(
      { db: ctx.db, orgs: ctx.service(stripeOrganizations) },
      ctx.session,
      // Every member reads the organisation's invoices (as they read its billing rows).
      { customerId: v.customerId, organizationId: v.organizationId, create: false, access: 'member' },
    );
  } catch (e) {
    if ((e as { code?: string }).code === 'stripe/no-customer') return [];
    throw e;
  }
  if (!customer) throw stripeError('stripe/no-customer');
  const r = await ctx.db.query<{
    id: string; number: string | null; status: string | null; currency: string | null; total: string | null; amount_due: string | null;
    amount_paid: string | null; hosted_invoice_url: string | null; invoice_pdf: string | null; subscription_id: string | null; created: Date | null;
  }>(
    `SELECT id, number, status, currency, total, amount_due, amount_paid, hosted_invoice_url, invoice_pdf, subscription_id, created
       FROM stripe.invoice WHERE customer_id = $1 AND NOT deleted AND status <> 'draft'
      ORDER BY created DESC, id DESC LIMIT $2 OFFSET $3`,
    [customer, v.limit ?? 20, v.offset ?? 0],
  );
  const n = (x: string | null) => (x === null ? null : Number(x));
  return r.rows.map((i) => ({
    id: i.id,
    number: i.number,
    status: i.status,
    currency: i.currency,
    total: n(i.total),
    amountDue: n(i.amount_due),
    amountPaid: n(i.amount_paid),
    hostedInvoiceUrl: i.hosted_invoice_url,
    invoicePdf: i.invoice_pdf,
    subscriptionId: i.subscription_id,
    created: i.created ? i.created.toISOString() : null,
  }));
};
