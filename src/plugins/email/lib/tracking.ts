/**
 * Provider events (delivered, bounced, complained, …) applied to email.message. Each event is stored once per
 * provider event id (webhooks are redelivered), and statuses only move forward: a late `delivered` never undoes
 * a bounce. Bounces and complaints put the address on the suppression list for all mail.
 */
import type { Db } from '../../../core/plugin.js';
import { normalizeAddress } from './address.js';

export type EventKind = 'sent' | 'delivered' | 'bounced' | 'complained' | 'failed' | 'deferred' | 'opened' | 'clicked' | 'other';

export interface ProviderEvent {
  provider: 'sendgrid' | 'resend';
  eventId: string;
  kind: EventKind;
  /** Our message id, when the provider echoes it (custom args, tags). */
  messageId: string | null;
  providerMessageId: string | null;
  recipient: string | null;
  occurredAt: Date | null;
  payload: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Statuses each event may move a message from. */
const FROM: Partial<Record<EventKind, string[]>> = {
  sent: ['queued', 'sending'],
  delivered: ['queued', 'sending', 'sent'],
  bounced: ['queued', 'sending', 'sent', 'delivered'],
  complained: ['queued', 'sending', 'sent', 'delivered', 'bounced'],
  failed: ['queued', 'sending', 'sent'],
};

export interface ApplyResult {
  applied: number;
  duplicates: number;
  unmatched: number;
}

export async function applyEvents(db: Db, events: readonly ProviderEvent[]): Promise<ApplyResult> {
  const out: ApplyResult = { applied: 0, duplicates: 0, unmatched: 0 };
  for (const ev of events) {
    await db.tx(async (tx) => {
      const found = await tx.query<{ id: string }>(
        `select id from email.message
          where ($1::text is not null and id = $1::uuid)
             or ($2::text is not null and provider_message_id is not null
                 and (provider_message_id = $2 or $2 like provider_message_id || '.%'))
          limit 1`,
        [ev.messageId && UUID.test(ev.messageId) ? ev.messageId : null, ev.providerMessageId],
      );
      const messageId = found.rows[0]?.id ?? null;
      const stored = await tx.query(
        `insert into email.event (message_id, provider, type, provider_event_id, recipient, payload, occurred_at)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (provider, provider_event_id) do nothing returning id`,
        [messageId, ev.provider, ev.kind, ev.eventId.slice(0, 500), ev.recipient?.slice(0, 320) ?? null, JSON.stringify(ev.payload), ev.occurredAt],
      );
      if (!stored.rows.length) {
        out.duplicates++;
        return;
      }
      if (!messageId) {
        out.unmatched++;
        return;
      }
      out.applied++;
      const from = FROM[ev.kind];
      if (from) {
        await tx.query(
          `update email.message set status = $2, updated_at = now(),
                  provider_message_id = coalesce(provider_message_id, $4),
                  delivered_at = case when $2 = 'delivered' then coalesce(delivered_at, $5, now()) else delivered_at end
            where id = $1 and status = any($3::text[])`,
          [messageId, ev.kind, from, ev.providerMessageId ? ev.providerMessageId.split('.')[0] : null, ev.occurredAt],
        );
      }
      if ((ev.kind === 'bounced' || ev.kind === 'complained') && ev.recipient) {
        await tx.query(
          `insert into email.suppression (address, scope, reason, source, message_id) values ($1, '*', $2, $3, $4)
           on conflict (address, scope) do nothing`,
          [normalizeAddress(ev.recipient), ev.kind === 'bounced' ? 'bounce' : 'complaint', ev.provider, messageId],
        );
      }
    });
  }
  return out;
}
