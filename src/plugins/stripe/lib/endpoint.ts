/**
 * The Stripe webhook endpoint of an installation: found by its URL, created when missing, its event types
 * brought up to what the plugin handles. Running it again changes nothing.
 */
import type Stripe from 'stripe';
import { HANDLED_EVENT_TYPES } from './event-types.js';

export interface EnsureResult {
  action: 'created' | 'updated' | 'unchanged';
  id: string;
  events: number;
  /** The signing secret, which Stripe returns only when the endpoint is created. */
  secret: string | null;
}

export async function ensureWebhookEndpoint(client: Stripe, url: string): Promise<EnsureResult> {
  const wanted = [...HANDLED_EVENT_TYPES].sort();
  let existing: Stripe.WebhookEndpoint | undefined;
  for await (const we of client.webhookEndpoints.list({ limit: 100 })) {
    if (we.url === url) {
      existing = we;
      break;
    }
  }
  if (!existing) {
    const created = await client.webhookEndpoints.create({ url, enabled_events: wanted as Stripe.WebhookEndpointCreateParams.EnabledEvent[], description: 'nself-plugins stripe' });
    return { action: 'created', id: created.id, events: wanted.length, secret: created.secret ?? null };
  }
  const have = [...existing.enabled_events].sort();
  if (have.length === wanted.length && have.every((e, i) => e === wanted[i])) return { action: 'unchanged', id: existing.id, events: wanted.length, secret: null };
  await client.webhookEndpoints.update(existing.id, { enabled_events: wanted as Stripe.WebhookEndpointUpdateParams.EnabledEvent[] });
  return { action: 'updated', id: existing.id, events: wanted.length, secret: null };
}
