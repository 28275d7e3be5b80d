/**
 * Runtime checks of the actions' input beyond the SDL, and whose customer the caller may act on. A failure is
 * a 4xx naming the field; nothing is created in Stripe or in the database.
 */
import { z } from 'zod';
import type { Session } from '../../../core/plugin.js';
import { stripeError } from './errors.js';

const stripeId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}_[A-Za-z0-9]{1,250}$`), `must be a Stripe id (${prefix}_…)`);
export const priceId = stripeId('price');
export const subscriptionId = stripeId('sub');
export const customerId = stripeId('cus');
const url = z.string().min(1).max(2000);
/** An app organisation id as the membership table holds it (compared as text); ≤ 200 so Stripe's idempotency key fits. */
export const organizationId = z.string().min(1).max(200).regex(/^[^\s]+$/, 'must not contain spaces');

export const checkoutInput = z.object({
  items: z.array(z.object({ price: priceId, quantity: z.number().int().min(1).max(10_000).nullish() })).min(1).max(20),
  mode: z.enum(['subscription', 'payment']),
  successUrl: url,
  cancelUrl: url,
  customerId: customerId.nullish(),
  organizationId: organizationId.nullish(),
  trialDays: z.number().int().min(1).max(730).nullish(),
  allowPromotionCodes: z.boolean().nullish(),
  promotionCode: z.string().regex(/^promo_[A-Za-z0-9]{1,250}$/, 'must be a promotion code id (promo_…)').nullish(),
  automaticTax: z.boolean().nullish(),
  taxIdCollection: z.boolean().nullish(),
}).refine((v) => !(v.allowPromotionCodes && v.promotionCode), { message: 'give allowPromotionCodes or promotionCode, not both', path: ['promotionCode'] })
  .refine((v) => v.mode === 'subscription' || v.trialDays == null, { message: 'trials need mode subscription', path: ['trialDays'] });

export const portalInput = z.object({ returnUrl: url, customerId: customerId.nullish(), organizationId: organizationId.nullish() });
export const setupIntentInput = z.object({ customerId: customerId.nullish(), organizationId: organizationId.nullish() });
const proration = z.enum(['create_prorations', 'none', 'always_invoice']);
export const changePlanInput = z.object({ subscriptionId, price: priceId, quantity: z.number().int().min(1).max(10_000).nullish(), prorationBehavior: proration.nullish(), organizationId: organizationId.nullish() });
export const previewInput = z.object({ subscriptionId, price: priceId, quantity: z.number().int().min(1).max(10_000).nullish(), organizationId: organizationId.nullish() });
export const cancelInput = z.object({ subscriptionId, atPeriodEnd: z.boolean().nullish(), organizationId: organizationId.nullish() });
export const resumeInput = z.object({ subscriptionId, organizationId: organizationId.nullish() });
export const usageInput = z.object({
  eventName: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'letters, digits and _ . : -, at most 100'),
  value: z.number().int().min(1, 'must be a positive whole number'),
  identifier: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'letters, digits and _ . : -, at most 100'),
  customerId: customerId.nullish(),
  organizationId: organizationId.nullish(),
});
export const invoicesInput = z.object({ limit: z.number().int().min(1).max(100).nullish(), offset: z.number().int().min(0).max(100_000).nullish(), customerId: customerId.nullish(), organizationId: organizationId.nullish() });

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : 'input'}: ${i.message}`);
  throw stripeError('stripe/invalid-input', `invalid input: ${problems.join('; ')}`, { problems });
}

/** The app user the action acts for. */
export function userOf(session: Session): string {
  if (!session.userId) throw stripeError('stripe/no-user');
  return session.userId;
}

/** Whether `target` is on an allowed origin (the configured list, else PUBLIC_URL's origin). */
export function checkRedirect(target: string, field: string, allowed: readonly string[], publicUrl: string): string {
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    throw stripeError('stripe/invalid-input', `invalid input: ${field}: must be an absolute URL`);
  }
  const origins = (allowed.length ? allowed : [publicUrl]).map((o) => {
    try {
      return new URL(o).origin;
    } catch {
      return o;
    }
  });
  if (!['http:', 'https:'].includes(u.protocol) || !origins.includes(u.origin) || u.username || u.password) {
    throw stripeError('stripe/redirect-not-allowed', `${field}: ${u.origin} is not an allowed redirect origin`);
  }
  return u.toString();
}
