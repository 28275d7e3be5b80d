/**
 * `email.send`: one message through the configured transport. The row is claimed (`queued`/`sending` →
 * `sending`, attempts + 1) before the provider is called and marked `sent` after, so a redelivered job never
 * mails a message that is already sent; an attempt interrupted after the provider accepted (worker killed)
 * runs again with the same idempotency key, which Resend honours.
 */
import { z } from 'zod';
import { UnrecoverableError } from 'bullmq';
import { defineJob } from '../../jobs/index.js';
import type { Queryable } from '../../../core/plugin.js';
import { emailService } from './service.js';
import { TransportError, type OutgoingEmail } from './transports/index.js';
import { normalizeAddress } from './address.js';

export interface MessageRow {
  id: string;
  from_address: string;
  to_addresses: string[];
  cc_addresses: string[];
  bcc_addresses: string[];
  reply_to: string | null;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  attachments: Array<{ fileId: string; filename: string; contentType: string }>;
  category: string | null;
}

async function suppressBounced(db: Queryable, addresses: readonly string[], messageId: string, source: string): Promise<void> {
  if (!addresses.length) return;
  await db.query(
    `insert into email.suppression (address, scope, reason, source, message_id)
     select lower(a), '*', 'bounce', $2, $3 from unnest($1::text[]) a on conflict do nothing`,
    [addresses.map(normalizeAddress), source, messageId],
  );
}

export const sendEmailJob = defineJob({
  name: 'email.send',
  queue: 'email.send',
  data: z.object({ messageId: z.string().uuid() }),
  concurrency: 20,
  attempts: 12,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeout: 120_000,
  description: 'Sends one email.message through the configured transport',
  async handler({ messageId }, ctx) {
    const api = ctx.service(emailService);
    const m = await api.claim(messageId);
    if (!m) return { skipped: 'the message is not waiting to be sent (already sent, failed or gone)' };
    const outgoing: OutgoingEmail = {
      id: m.id,
      from: m.from_address,
      to: m.to_addresses,
      cc: m.cc_addresses,
      bcc: m.bcc_addresses,
      replyTo: m.reply_to,
      subject: m.subject,
      html: m.html,
      text: m.text ?? '',
      headers: m.headers,
      category: m.category,
      attachments: m.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        open: () => {
          if (!api.attachments) throw new TransportError('attachments need the files plugin, which is not enabled', false);
          return api.attachments.open(a.fileId);
        },
      })),
    };
    try {
      const res = await api.transport.send(outgoing, ctx.signal);
      const rejected = res.rejected ?? [];
      // Suppressions first: once the status says sent or failed, everything about the attempt is recorded.
      await suppressBounced(ctx.db, rejected, m.id, api.transport.name);
      await api.markSent(m.id, res.providerMessageId, rejected.length ? `rejected by the server: ${rejected.join(', ')}` : null);
      return { providerMessageId: res.providerMessageId };
    } catch (e) {
      const err = e instanceof TransportError ? e : new TransportError((e as Error).message, true);
      const final = !err.retryable || ctx.job.attempt >= ctx.job.maxAttempts;
      if (!err.retryable) await suppressBounced(ctx.db, err.rejected, m.id, api.transport.name);
      await ctx.db.query(
        `update email.message set status = $2, last_error = $3, updated_at = now() where id = $1 and status = 'sending'`,
        [m.id, final ? 'failed' : 'queued', err.message.slice(0, 2000)],
      );
      if (final) throw new UnrecoverableError(err.message);
      throw err;
    }
  },
});
