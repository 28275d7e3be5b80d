/**
 * The email plugin's service: the configured transport (one pooled SMTP transport or API client per replica),
 * the template renderer with its caches, and `send`/`preview` — the API handlers and other plugins use
 * (`ctx.service(emailService)`).
 */
import { defineService } from '../../../core/plugin.js';
import type { EmailConfig } from '../config.js';
import { filesStorage } from '../../files/index.js';
import { filesAttachmentSource, type AttachmentSource, type OpenObject } from './attachments.js';
import { queueMessage, renderContent, type MessageDeps, type QueuedMessage, type SendInput } from './messages.js';
import { Renderer, type Rendered } from './render.js';
import { createTransport, type EmailTransport } from './transports/index.js';
import { unsubscribeKey } from './unsubscribe.js';
import { StatementBatcher } from '../../../core/statement-batcher.js';
import type { MessageRow } from './send-job.js';

export interface EmailPreview extends Rendered {
  /** The locale of the template used (after fallback); null for content given directly. */
  locale: string | null;
}

export interface EmailApi {
  readonly config: Readonly<EmailConfig>;
  readonly renderer: Renderer;
  readonly transport: EmailTransport;
  /** Where attachments by file id are read; undefined while the files plugin is not enabled. */
  readonly attachments: AttachmentSource | undefined;
  /** Stores, renders and queues a message (see `emailSend`). */
  send(input: SendInput): Promise<QueuedMessage>;
  /**
   * Reads attachments by `files` id from now on: rows of files.file, bytes through `openObject` (the files
   * plugin's storage service). Called at start when the files plugin is enabled.
   */
  connectFiles(openObject: OpenObject): void;
  /** Claims a message for a send attempt (`queued`/`sending` → `sending`, attempts + 1); null when it is not waiting. */
  claim(id: string): Promise<MessageRow | null>;
  /** Records a send the provider accepted. */
  markSent(id: string, providerMessageId: string | null, note: string | null): Promise<void>;
  /** Renders without sending. */
  preview(input: Pick<SendInput, 'template' | 'locale' | 'subject' | 'html' | 'text' | 'data'>): Promise<EmailPreview>;
}

export const emailService = defineService<EmailApi, EmailConfig>({
  name: 'email',
  async create(runtime) {
    const config = runtime.config;
    const transport = await createTransport(config);
    const renderer = new Renderer();
    const deps: MessageDeps = {
      db: runtime.db,
      jobs: { queue: runtime.queue, optionalService: (token) => runtime.optionalService(token) },
      config,
      renderer,
      publicUrl: runtime.core.PUBLIC_URL,
      unsubscribeKey: unsubscribeKey(config.EMAIL_UNSUBSCRIBE_SECRET, runtime.core.NSELF_PLUGINS_WEBHOOK_SECRET ?? ''),
      attachments: undefined,
    };
    // With the files plugin on, attachments stream from its storage (local folder, S3 or MinIO).
    const storage = runtime.optionalService(filesStorage);
    if (storage) deps.attachments = filesAttachmentSource(runtime.db, (file) => storage.read(file.object_key));
    // Concurrent send jobs share one statement per turn of the event loop for their claims and their results.
    const claims = new StatementBatcher<string, MessageRow | null>(async (ids) => {
      const r = await runtime.db.pool.query<MessageRow>({
        name: 'email_claim_messages',
        text: `update email.message set status = 'sending', attempts = attempts + 1, updated_at = now()
          where id = any($1::uuid[]) and status in ('queued', 'sending')
          returning id, from_address, to_addresses, cc_addresses, bcc_addresses, reply_to, subject, html, text, headers, attachments, category`,
        values: [ids],
      });
      const byId = new Map(r.rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    });
    const results = new StatementBatcher<{ id: string; pid: string | null; note: string | null }, void>(async (rows) => {
      await runtime.db.pool.query({
        name: 'email_mark_sent',
        text: `update email.message m set status = case when m.status = 'sending' then 'sent' else m.status end,
                provider_message_id = coalesce(u.pid, m.provider_message_id), sent_at = coalesce(m.sent_at, now()),
                last_error = u.note, updated_at = now()
           from unnest($1::uuid[], $2::text[], $3::text[]) as u(id, pid, note) where m.id = u.id`,
        values: [rows.map((x) => x.id), rows.map((x) => x.pid), rows.map((x) => x.note)],
      });
      return rows.map(() => undefined);
    });
    return {
      config,
      renderer,
      claim: (id) => claims.call(id),
      markSent: (id, pid, note) => results.call({ id, pid, note }),
      transport,
      get attachments() {
        return deps.attachments;
      },
      connectFiles(openObject) {
        deps.attachments = filesAttachmentSource(runtime.db, openObject);
      },
      send: (input) => queueMessage(deps, input),
      async preview(input) {
        const { rendered, locale } = await renderContent(deps, input);
        return { ...rendered, locale };
      },
    };
  },
  close: (api) => api.transport.close(),
});
