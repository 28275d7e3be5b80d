/**
 * The email plugin's service: the configured transport (one pooled SMTP transport or API client per replica),
 * the template renderer with its caches, and `send`/`preview` — the API handlers and other plugins use
 * (`ctx.service(emailService)`).
 */
import { defineService } from '../../../core/plugin.js';
import type { EmailConfig } from '../config.js';
import { filesAttachmentSource, type AttachmentSource, type OpenObject } from './attachments.js';
import { queueMessage, renderContent, type MessageDeps, type QueuedMessage, type SendInput } from './messages.js';
import { Renderer, type Rendered } from './render.js';
import { createTransport, type EmailTransport } from './transports/index.js';
import { unsubscribeKey } from './unsubscribe.js';

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
  /** Renders without sending. */
  preview(input: Pick<SendInput, 'template' | 'locale' | 'subject' | 'html' | 'text' | 'data'>): Promise<EmailPreview>;
}

export const emailService = defineService<EmailApi, EmailConfig>({
  name: 'email',
  create(runtime) {
    const config = runtime.config;
    const transport = createTransport(config);
    const renderer = new Renderer();
    const deps: MessageDeps = {
      db: runtime.db,
      queue: runtime.queue,
      config,
      renderer,
      publicUrl: runtime.core.PUBLIC_URL,
      unsubscribeKey: unsubscribeKey(config.EMAIL_UNSUBSCRIBE_SECRET, runtime.core.NSELF_PLUGINS_WEBHOOK_SECRET ?? ''),
      attachments: undefined,
    };
    // The files plugin's storage service connects here (connectFiles) once that plugin exists: see README, "Attachments".
    return {
      config,
      renderer,
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
