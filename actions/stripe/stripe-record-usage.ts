import type { ActionHandler } from '../../src/core/plugin.js';
import type { StripeConfig } from '../../src/plugins/stripe/config.js';
import { requireClient, stripeClient, upstreamError } from '../../src/plugins/stripe/lib/client.js';
import { customerFor } from '../../src/plugins/stripe/lib/customers.js';
import { stripeError } from '../../src/plugins/stripe/lib/errors.js';
import { parseInput, usageInput } from '../../src/plugins/stripe/lib/input.js';
import { stripeOrganizations } from '../../src/plugins/stripe/lib/organizations.js';
import type { StripeUsageRecord } from '../../src/generated/actions.js';

/**
 * One meter event. The identifier is recorded in the same transaction that sends it: a retry with the same
 * identifier and value answers `duplicate` without a second event; with another value or meter it is a 409.
 * Stripe dedupes meter events on the identifier too, so a crash between send and commit cannot double-count.
 */
export const stripeRecordUsage: ActionHandler<unknown, StripeUsageRecord, StripeConfig> = async (input, ctx) => {
  const v = parseInput(usageInput, input);
  if (v.value > ctx.config.STRIPE_USAGE_MAX_VALUE) {
    throw stripeError('stripe/invalid-input', `invalid input: value: at most ${ctx.config.STRIPE_USAGE_MAX_VALUE}`);
  }
  const client = requireClient(ctx.service(stripeClient));
  const customer = await customerFor(
    { db: ctx.db, client, orgs: ctx.service(stripeOrganizations) },
    ctx.session,
    // Usage is what members do, not a billing decision: any member reports it for the organisation.
    { customerId: v.customerId, organizationId: v.organizationId, create: false, access: 'member' },
  );
  const meter = await ctx.db.query(`SELECT 1 FROM stripe.meter WHERE event_name = $1 AND status = 'active' AND NOT deleted`, [v.eventName]);
  if (!meter.rowCount) throw stripeError('stripe/unknown-meter', `no active meter for event ${v.eventName}`);
  const out = { identifier: v.identifier, eventName: v.eventName, value: v.value, customerId: customer };
  return ctx.db.tx(async (tx) => {
    const ins = await tx.query(
      `INSERT INTO stripe.usage_record (identifier, customer_id, event_name, value, recorded_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identifier) DO NOTHING`,
      [v.identifier, customer, v.eventName, v.value, ctx.session.userId],
    );
    if (!ins.rowCount) {
      const prev = await tx.query<{ customer_id: string; event_name: string; value: string }>('SELECT customer_id, event_name, value FROM stripe.usage_record WHERE identifier = $1', [v.identifier]);
      const p = prev.rows[0]!;
      if (p.customer_id !== customer || p.event_name !== v.eventName || Number(p.value) !== v.value) throw stripeError('stripe/usage-conflict');
      return { ...out, duplicate: true };
    }
    try {
      await client.billing.meterEvents.create(
        { event_name: v.eventName, identifier: v.identifier, payload: { stripe_customer_id: customer, value: String(v.value) } },
        { idempotencyKey: `nself-usage-${v.identifier}` },
      );
    } catch (e) {
      throw upstreamError(e);
    }
    return { ...out, duplicate: false };
  });
};
