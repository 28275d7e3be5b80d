import { definePlugin, type SelectPermission, type TableSpec } from '../../core/plugin.js';
import { webhooksConfig, type WebhooksConfig } from './config.js';
import { webhooksEmitter } from './lib/service.js';
import { deliverJob, dispatchJob } from './lib/jobs.js';
import { incomingRoutes } from './lib/incoming.js';
import { ensureEventTypes, registerEventTypes } from './lib/emit.js';
import { webhooksCreateEndpoint } from '../../../actions/webhooks/webhooks-create-endpoint.js';
import { webhooksUpdateEndpoint } from '../../../actions/webhooks/webhooks-update-endpoint.js';
import { webhooksRotateSecret } from '../../../actions/webhooks/webhooks-rotate-secret.js';
import { webhooksDeleteEndpoint } from '../../../actions/webhooks/webhooks-delete-endpoint.js';
import { TEST_EVENT_TYPE, webhooksSendTest } from '../../../actions/webhooks/webhooks-send-test.js';
import { webhooksResend } from '../../../actions/webhooks/webhooks-resend.js';
import { webhooksRecover } from '../../../actions/webhooks/webhooks-recover.js';
import { webhooksEmit } from '../../../actions/webhooks/webhooks-emit.js';
import { webhooksRegisterEventType } from '../../../actions/webhooks/webhooks-register-event-type.js';
import { webhooksEventTypes } from '../../../actions/webhooks/webhooks-event-types.js';
import { webhooksCreateIncoming } from '../../../actions/webhooks/webhooks-create-incoming.js';
import { webhooksRevokeIncoming } from '../../../actions/webhooks/webhooks-revoke-incoming.js';
import { webhooksPrune } from '../../../cron-triggers/webhooks/webhooks-prune.js';
import { webhooksMapRow } from '../../../event-triggers/webhooks/map-row.js';
import { mappingTriggers } from './lib/mappings.js';

const OWN = { owner_id: { _eq: 'X-Hasura-User-Id' } };
const VIA_ENDPOINT = { endpoint: OWN };
const BACKEND = ['service'];
const USERS = ['user'];
const BOTH = [...USERS, ...BACKEND];

const user = (columns: string[], filter: Record<string, unknown>): SelectPermission => ({ role: 'user', permission: { columns, filter, allow_aggregations: true } });
const service = (columns: string[] | '*'): SelectPermission => ({ role: 'service', permission: { columns, filter: {}, allow_aggregations: true } });
const table = (name: string, spec: Omit<TableSpec, 'table'>): TableSpec => ({ table: { schema: 'webhooks', name }, configuration: { custom_name: `webhooks_${name}` }, ...spec });
const fk = (table: string, column: string) => ({ foreign_key_constraint_on: { table: { schema: 'webhooks', name: table }, column } });

const ENDPOINT_COLUMNS = ['id', 'owner_id', 'url', 'description', 'event_types', 'channels', 'enabled', 'disabled_reason', 'disabled_at', 'headers', 'rate_limit', 'retry_schedule', 'fifo', 'signature_scheme', 'failing_since', 'last_success_at', 'created_at', 'updated_at'];
const DELIVERY_COLUMNS = ['id', 'message_id', 'endpoint_id', 'status', 'attempts', 'next_attempt_at', 'last_status_code', 'last_error', 'created_at', 'updated_at'];
const ATTEMPT_COLUMNS = ['id', 'delivery_id', 'endpoint_id', 'message_id', 'status', 'response_code', 'response_body', 'duration_ms', 'error', 'next_retry_at', 'created_at'];

/** Event types the plugin itself sends. */
const BUILTIN_EVENT_TYPES = [
  {
    name: TEST_EVENT_TYPE,
    description: 'A test message sent by webhooksSendTest',
    schema: { type: 'object', properties: { message: { type: 'string' } } },
    example: { message: 'This is a test webhook from nself-plugins.' },
  },
];

export const webhooksPlugin = definePlugin({
  name: 'webhooks',
  version: '0.1.0',
  description:
    'Signed outbound webhooks (Standard Webhooks: HMAC v1 and ed25519 v1a, secret rotation) delivered as jobs with retries over days, rate limits, FIFO per key, auto-disable and an SSRF guard; endpoints and attempt logs as Hasura tables for a consumer portal; incoming webhook URLs whose posts become rows.',
  dependsOn: ['jobs'],
  optionalDependsOn: ['notifications'],
  config: webhooksConfig,
  services: [webhooksEmitter],
  jobs: [deliverJob, dispatchJob],
  tables: [
    table('event_type', {
      select_permissions: [user(['name', 'description', 'schema', 'example', 'created_at'], { archived: { _eq: false } }), service('*')],
      update_permissions: [{ role: 'service', permission: { columns: ['description', 'archived'], filter: {}, check: {} } }],
    }),
    table('endpoint', {
      select_permissions: [user(ENDPOINT_COLUMNS, OWN), service(ENDPOINT_COLUMNS)],
      array_relationships: [
        { name: 'deliveries', using: fk('delivery', 'endpoint_id') },
        { name: 'attempts', using: fk('attempt', 'endpoint_id') },
      ],
    }),
    table('message', {
      // Users see the messages sent to their endpoints (and only those).
      select_permissions: [user(['id', 'event_type', 'payload', 'channels', 'ordering_key', 'created_at'], { deliveries: VIA_ENDPOINT }), service(['id', 'event_type', 'payload', 'idempotency_key', 'channels', 'ordering_key', 'test_endpoint_id', 'created_at'])],
      array_relationships: [{ name: 'deliveries', using: fk('delivery', 'message_id') }],
    }),
    table('delivery', {
      select_permissions: [user(DELIVERY_COLUMNS, VIA_ENDPOINT), service(DELIVERY_COLUMNS)],
      object_relationships: [
        { name: 'endpoint', using: { foreign_key_constraint_on: 'endpoint_id' } },
        { name: 'message', using: { foreign_key_constraint_on: 'message_id' } },
      ],
      array_relationships: [{ name: 'attempts', using: fk('attempt', 'delivery_id') }],
    }),
    table('attempt', {
      select_permissions: [user(ATTEMPT_COLUMNS, VIA_ENDPOINT), service(ATTEMPT_COLUMNS)],
      object_relationships: [
        { name: 'endpoint', using: { foreign_key_constraint_on: 'endpoint_id' } },
        { name: 'delivery', using: { foreign_key_constraint_on: 'delivery_id' } },
      ],
    }),
    table('incoming', {
      select_permissions: [user(['id', 'owner_id', 'name', 'rate_limit', 'revoked_at', 'last_used_at', 'created_at'], OWN), service(['id', 'owner_id', 'name', 'rate_limit', 'revoked_at', 'last_used_at', 'created_at'])],
      array_relationships: [{ name: 'messages', using: fk('incoming_message', 'incoming_id') }],
    }),
    table('incoming_message', {
      select_permissions: [user(['id', 'incoming_id', 'payload', 'content_type', 'user_agent', 'received_at'], OWN), service('*')],
      delete_permissions: [{ role: 'user', permission: { filter: OWN } }, { role: 'service', permission: { filter: {} } }],
      object_relationships: [{ name: 'incoming', using: { foreign_key_constraint_on: 'incoming_id' } }],
    }),
  ],
  actions: {
    webhooksCreateEndpoint: { handler: webhooksCreateEndpoint, permissions: BOTH, timeout: 30 },
    webhooksUpdateEndpoint: { handler: webhooksUpdateEndpoint, permissions: BOTH, timeout: 30 },
    webhooksRotateSecret: { handler: webhooksRotateSecret, permissions: BOTH, timeout: 10 },
    webhooksDeleteEndpoint: { handler: webhooksDeleteEndpoint, permissions: BOTH, timeout: 30 },
    webhooksSendTest: { handler: webhooksSendTest, permissions: BOTH, timeout: 10 },
    webhooksResend: { handler: webhooksResend, permissions: BOTH, timeout: 10 },
    webhooksRecover: { handler: webhooksRecover, permissions: BOTH, timeout: 60 },
    webhooksEmit: { handler: webhooksEmit, permissions: BACKEND, timeout: 30 },
    webhooksRegisterEventType: { handler: webhooksRegisterEventType, permissions: BACKEND, timeout: 10 },
    webhooksEventTypes: { handler: webhooksEventTypes, permissions: BOTH, timeout: 10 },
    webhooksCreateIncoming: { handler: webhooksCreateIncoming, permissions: BOTH, timeout: 10 },
    webhooksRevokeIncoming: { handler: webhooksRevokeIncoming, permissions: BOTH, timeout: 10 },
  },
  crons: {
    webhooks_prune: {
      schedule: '43 3 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 600, timeout_seconds: 600, tolerance_seconds: 21600 },
      comment: 'Deletes finished messages past WEBHOOKS_RETENTION_DAYS and attempts past WEBHOOKS_ATTEMPT_RETENTION_DAYS',
      handler: webhooksPrune,
    },
  },
  routes(router, runtime) {
    incomingRoutes(router, runtime as never);
  },
  install: {
    options: {
      map: { description: 'Table → event mappings, e.g. nchat_messages:insert=message.created (comma-separated)', setting: 'WEBHOOKS_MAP', list: true },
    },
    projectTriggers: (settings) => mappingTriggers(settings.WEBHOOKS_MAP ?? []),
    eventHandlers: { map_row: { handler: webhooksMapRow, comment: 'Emits the mapped webhook events of a row change' } },
  },
  async start(runtime) {
    await registerEventTypes(runtime.db, BUILTIN_EVENT_TYPES, 'webhooks');
    // Mapped types an operator has not described yet get a plain entry, so their events can be emitted at once.
    const mapped = [...new Set(runtime.config.WEBHOOKS_MAP.map((m) => m.type))];
    await ensureEventTypes(runtime.db, mapped.map((name) => ({ name, description: `Row changes mapped by WEBHOOKS_MAP (${runtime.config.WEBHOOKS_MAP.filter((m) => m.type === name).map((m) => `${m.schema}.${m.table}:${m.op}`).join(', ')})` })), 'map');
  },
});

export type { WebhooksConfig };
