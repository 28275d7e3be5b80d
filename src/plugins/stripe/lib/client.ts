/**
 * The Stripe API client as a plugin service: one `stripe` instance per process, pointed at
 * STRIPE_API_HOST/PORT/PROTOCOL when set (stripe-mock, a proxy, the test fake). Absent without a secret key:
 * handlers then answer `stripe/not-configured` instead of failing on the first request.
 */
import type Stripe from 'stripe';
import { lazyModule } from '../../../core/lazy-module.js';
import { defineService } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { stripeError } from './errors.js';

export interface StripeClientHolder {
  readonly client: Stripe | undefined;
}

/**
 * The Stripe SDK (a few hundred modules), loaded when a secret key is set or the first webhook arrives, so a
 * process without Stripe settings does not pay for it at start.
 */
export const stripeSdk = lazyModule(async () => (await import('stripe')).default);

export async function createStripeClient(config: StripeConfig): Promise<Stripe | undefined> {
  if (!config.STRIPE_SECRET_KEY) return undefined;
  const StripeSdk = await stripeSdk();
  return new StripeSdk(config.STRIPE_SECRET_KEY, {
    maxNetworkRetries: config.STRIPE_MAX_NETWORK_RETRIES,
    timeout: config.STRIPE_API_TIMEOUT_MS,
    telemetry: false,
    appInfo: { name: 'nself-plugins-stripe' },
    ...(config.STRIPE_API_HOST ? { host: config.STRIPE_API_HOST } : {}),
    ...(config.STRIPE_API_PORT ? { port: config.STRIPE_API_PORT } : {}),
    ...(config.STRIPE_API_PROTOCOL ? { protocol: config.STRIPE_API_PROTOCOL } : {}),
  });
}

export const stripeClient = defineService<StripeClientHolder, StripeConfig>({
  name: 'client',
  create: async (runtime) => ({ client: await createStripeClient(runtime.config) }),
});

/** The client, or the action error that says Stripe is not configured. */
export function requireClient(holder: StripeClientHolder): Stripe {
  if (!holder.client) throw stripeError('stripe/not-configured');
  return holder.client;
}

/** Maps a failed API call to the action's error: rate limits and Stripe's refusals are 4xx with Stripe's message. */
export function upstreamError(e: unknown): Error {
  // An error from an API call means the SDK is loaded; anything else passes through.
  const Stripe = stripeSdk.loaded;
  if (!Stripe) return e as Error;
  if (e instanceof Stripe.errors.StripeRateLimitError) return stripeError('stripe/rate-limited');
  if (e instanceof Stripe.errors.StripeInvalidRequestError || e instanceof Stripe.errors.StripeCardError) {
    return stripeError('stripe/upstream', `Stripe refused the request: ${e.message}`, { stripeCode: e.code ?? null, param: e.param ?? null });
  }
  return e as Error;
}
