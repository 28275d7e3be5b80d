/**
 * Provider event webhooks, each checked with the provider's own signature scheme before anything is read:
 * - SendGrid's signed Event Webhook: ECDSA P-256/SHA-256 over `timestamp + body`, signature and timestamp in
 *   `X-Twilio-Email-Event-Webhook-Signature` / `-Timestamp`, the account's verification key in base64 SPKI.
 * - Resend (Svix / Standard Webhooks): HMAC-SHA256 over `id.timestamp.body` with the `whsec_` secret, checked by
 *   the Resend client's own verifier; `svix-*` and `webhook-*` header names are both accepted.
 * Timestamps outside the tolerance are refused, so a captured request cannot be replayed later.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { lazyModule } from '../../../core/lazy-module.js';
import type { EventKind, ProviderEvent } from './tracking.js';

export class WebhookAuthError extends Error {
  override name = 'WebhookAuthError';
}

const header = (h: Record<string, string | string[] | undefined>, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/* ------------------------------------------------------------------ SendGrid */

export function sendgridKey(base64: string): KeyObject {
  return createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' });
}

export function verifySendgrid(key: KeyObject, headers: Record<string, string | string[] | undefined>, body: Buffer, toleranceSeconds: number, now = Date.now()): void {
  const signature = header(headers, 'x-twilio-email-event-webhook-signature');
  const timestamp = header(headers, 'x-twilio-email-event-webhook-timestamp');
  if (!signature || !timestamp) throw new WebhookAuthError('missing signature headers');
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) throw new WebhookAuthError('timestamp outside the tolerance');
  const ok = verify('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), key, Buffer.from(signature, 'base64'));
  if (!ok) throw new WebhookAuthError('signature does not verify');
}

const SENDGRID_KINDS: Record<string, EventKind> = {
  delivered: 'delivered',
  bounce: 'bounced',
  dropped: 'failed',
  spamreport: 'complained',
  deferred: 'deferred',
  open: 'opened',
  click: 'clicked',
  processed: 'other',
};

export function sendgridEvents(body: unknown): ProviderEvent[] {
  if (!Array.isArray(body)) throw new TypeError('the body must be a JSON array of events');
  return body.flatMap((e): ProviderEvent[] => {
    if (!e || typeof e !== 'object') return [];
    const ev = e as Record<string, unknown>;
    if (typeof ev.sg_event_id !== 'string' || typeof ev.event !== 'string') return [];
    let kind = SENDGRID_KINDS[ev.event] ?? 'other';
    // A "blocked" bounce is a temporary refusal (reputation, content): not the address's fault.
    if (kind === 'bounced' && ev.type === 'blocked') kind = 'failed';
    return [
      {
        provider: 'sendgrid',
        eventId: ev.sg_event_id,
        kind,
        messageId: typeof ev.nself_message_id === 'string' ? ev.nself_message_id : null,
        providerMessageId: typeof ev.sg_message_id === 'string' ? ev.sg_message_id : null,
        recipient: typeof ev.email === 'string' ? ev.email : null,
        occurredAt: typeof ev.timestamp === 'number' ? new Date(ev.timestamp * 1000) : null,
        payload: ev,
      },
    ];
  });
}

/* ------------------------------------------------------------------ Resend */

/** The Resend SDK, loaded with the first Resend webhook rather than at start. */
const resendSdk = lazyModule(() => import('resend'));

export async function verifyResend(secret: string, headers: Record<string, string | string[] | undefined>, body: Buffer, toleranceSeconds: number, now = Date.now()): Promise<void> {
  const id = header(headers, 'svix-id') ?? header(headers, 'webhook-id');
  const timestamp = header(headers, 'svix-timestamp') ?? header(headers, 'webhook-timestamp');
  const signature = header(headers, 'svix-signature') ?? header(headers, 'webhook-signature');
  if (!id || !timestamp || !signature) throw new WebhookAuthError('missing signature headers');
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) throw new WebhookAuthError('timestamp outside the tolerance');
  const { Resend } = await resendSdk();
  try {
    // The Resend client's verifier (Standard Webhooks); the key only matters for the instance, not the check.
    new Resend('re_verify_only').webhooks.verify({ payload: body.toString('utf8'), headers: { id, timestamp, signature }, webhookSecret: secret });
  } catch (e) {
    throw new WebhookAuthError(`signature does not verify: ${(e as Error).message}`);
  }
}

const RESEND_KINDS: Record<string, EventKind> = {
  'email.sent': 'sent',
  'email.delivered': 'delivered',
  'email.bounced': 'bounced',
  'email.complained': 'complained',
  'email.failed': 'failed',
  'email.delivery_delayed': 'deferred',
  'email.opened': 'opened',
  'email.clicked': 'clicked',
};

function resendTag(tags: unknown, name: string): string | null {
  if (Array.isArray(tags)) {
    const t = tags.find((x) => x && typeof x === 'object' && (x as { name?: unknown }).name === name) as { value?: unknown } | undefined;
    return typeof t?.value === 'string' ? t.value : null;
  }
  if (tags && typeof tags === 'object') {
    const v = (tags as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : null;
  }
  return null;
}

export function resendEvents(eventId: string, body: unknown): ProviderEvent[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('the body must be a JSON object');
  const b = body as { type?: unknown; created_at?: unknown; data?: Record<string, unknown> };
  if (typeof b.type !== 'string' || !b.data || typeof b.data !== 'object') throw new TypeError('the event needs type and data');
  const to = b.data.to;
  const recipient = Array.isArray(to) && typeof to[0] === 'string' ? to[0] : typeof to === 'string' ? to : null;
  const at = typeof b.created_at === 'string' ? new Date(b.created_at) : null;
  return [
    {
      provider: 'resend',
      eventId,
      kind: RESEND_KINDS[b.type] ?? 'other',
      messageId: resendTag(b.data.tags, 'nself_message_id'),
      providerMessageId: typeof b.data.email_id === 'string' ? b.data.email_id : null,
      recipient,
      occurredAt: at && !Number.isNaN(at.getTime()) ? at : null,
      payload: body,
    },
  ];
}
