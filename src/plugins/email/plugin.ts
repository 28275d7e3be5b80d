import { definePlugin, type TableSpec } from '../../core/plugin.js';
import { emailConfig, type EmailConfig } from './config.js';
import { emailService } from './lib/service.js';
import { sendEmailJob } from './lib/send-job.js';
import { emailRoutes } from './lib/routes.js';
import { emailSend } from '../../../actions/email/email-send.js';
import { emailPreview } from '../../../actions/email/email-preview.js';
import { emailUpsertTemplate } from '../../../actions/email/email-upsert-template.js';
import { emailMessageRequeue } from '../../../cron-triggers/email/email-message-requeue.js';
import { emailPruneMessages } from '../../../cron-triggers/email/email-prune-messages.js';

const OPERATORS = ['service'];

/** A table the `service` role (a backend) reads and, where `write`, changes; admin always can. */
function serviceTable(name: string, columns: string[], write: boolean, extra: Partial<TableSpec> = {}): TableSpec {
  return {
    table: { schema: 'email', name },
    configuration: { custom_name: `email_${name}` },
    select_permissions: [{ role: 'service', permission: { columns, filter: {}, allow_aggregations: true } }],
    ...(write
      ? {
          insert_permissions: [{ role: 'service', permission: { check: {}, columns } }],
          update_permissions: [{ role: 'service', permission: { columns, filter: {}, check: {} } }],
          delete_permissions: [{ role: 'service', permission: { filter: {} } }],
        }
      : {}),
    ...extra,
  };
}

export const emailPlugin = definePlugin({
  name: 'email',
  version: '0.1.0',
  description:
    'Transactional and bulk email through SMTP (pooled), SendGrid, Resend or a GraphQL-readable outbox: localized templates with a shared layout, idempotent sends, delivery tracking from signed provider webhooks, a suppression list and one-click unsubscribe.',
  dependsOn: ['jobs'],
  optionalDependsOn: ['files'],
  config: emailConfig,
  services: [emailService],
  jobs: [sendEmailJob],
  tables: [
    serviceTable('template', ['id', 'key', 'locale', 'subject', 'html', 'text', 'schema', 'layout', 'transactional', 'category', 'created_at', 'updated_at'], true),
    serviceTable('layout', ['key', 'locale', 'html', 'text', 'updated_at'], true),
    serviceTable(
      'message',
      [
        'id', 'idempotency_key', 'status', 'transport', 'to_addresses', 'cc_addresses', 'bcc_addresses', 'from_address', 'reply_to',
        'subject', 'html', 'text', 'headers', 'attachments', 'template_key', 'locale', 'category', 'transactional', 'suppressed',
        'metadata', 'provider_message_id', 'attempts', 'last_error', 'created_at', 'updated_at', 'sent_at', 'delivered_at',
      ],
      false,
      { array_relationships: [{ name: 'events', using: { foreign_key_constraint_on: { table: { schema: 'email', name: 'event' }, column: 'message_id' } } }] },
    ),
    serviceTable('event', ['id', 'message_id', 'provider', 'type', 'provider_event_id', 'recipient', 'payload', 'occurred_at', 'received_at'], false, {
      object_relationships: [{ name: 'message', using: { foreign_key_constraint_on: 'message_id' } }],
    }),
    serviceTable('suppression', ['address', 'scope', 'reason', 'source', 'message_id', 'created_at'], true),
  ],
  actions: {
    emailSend: { handler: emailSend, permissions: OPERATORS, timeout: 30 },
    emailPreview: { handler: emailPreview, permissions: OPERATORS, timeout: 30 },
    emailUpsertTemplate: { handler: emailUpsertTemplate, permissions: OPERATORS, timeout: 30 },
  },
  actionRelationships: {
    EmailSendResult: [{ name: 'message', type: 'object', remote_table: { schema: 'email', name: 'message' }, field_mapping: { messageId: 'id' } }],
  },
  crons: {
    email_message_requeue: {
      schedule: '*/5 * * * *',
      payload: {},
      retry_conf: { num_retries: 1, retry_interval_seconds: 60, timeout_seconds: 120, tolerance_seconds: 600 },
      comment: 'Queues again messages whose job was lost (still queued after ten minutes)',
      handler: emailMessageRequeue,
    },
    email_prune_messages: {
      schedule: '47 3 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 600, timeout_seconds: 600, tolerance_seconds: 21600 },
      comment: 'Deletes email.message rows (and their events) past EMAIL_MESSAGE_RETENTION_DAYS',
      handler: emailPruneMessages,
    },
  },
  routes(router, runtime) {
    emailRoutes(router, runtime as typeof runtime & { config: EmailConfig });
  },
});
