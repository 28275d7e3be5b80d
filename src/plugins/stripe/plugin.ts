import { definePlugin, type TableSpec } from '../../core/plugin.js';
import { stripeConfig, type StripeConfig } from './config.js';
import { stripeClient } from './lib/client.js';
import { STRIPE_JOBS } from './lib/jobs.js';
import { stripeSessionClaims } from './lib/claims.js';
import { stripeOrganizations } from './lib/organizations.js';
import { stripeDunning } from './lib/notify.js';
import { webhookRoute } from './lib/webhook.js';
import { stripeCreateCheckoutSession } from '../../../actions/stripe/stripe-create-checkout-session.js';
import { stripeCreatePortalSession } from '../../../actions/stripe/stripe-create-portal-session.js';
import { stripeCreateSetupIntent } from '../../../actions/stripe/stripe-create-setup-intent.js';
import { stripeChangePlan } from '../../../actions/stripe/stripe-change-plan.js';
import { stripePreviewProration } from '../../../actions/stripe/stripe-preview-proration.js';
import { stripeCancelSubscription } from '../../../actions/stripe/stripe-cancel-subscription.js';
import { stripeResumeSubscription } from '../../../actions/stripe/stripe-resume-subscription.js';
import { stripeRecordUsage } from '../../../actions/stripe/stripe-record-usage.js';
import { stripeInvoices } from '../../../actions/stripe/stripe-invoices.js';
import { stripeCheckoutRequestCreate } from '../../../event-triggers/stripe/stripe-checkout-request-create.js';
import { stripeBillingEventNotify } from '../../../event-triggers/stripe/stripe-billing-event-notify.js';
import { stripeReconcile } from '../../../cron-triggers/stripe/stripe-reconcile.js';

const ME = 'X-Hasura-User-Id';
const USERS = ['user'];
const t = (name: string) => ({ schema: 'stripe', name });
/**
 * An owner row (customer_link, owner_plan, billing_event) the caller may read: its own, or an organisation's
 * it is a member of (through `members`, the organisation_member view; empty while organisations are off).
 */
const OWNER = {
  _or: [
    { _and: [{ owner_type: { _eq: 'user' } }, { owner_id: { _eq: ME } }] },
    { _and: [{ owner_type: { _eq: 'organization' } }, { members: { user_id: { _eq: ME } } }] },
  ],
};
/** Rows of a customer the caller may read: an EXISTS on customer_link's unique customer_id. */
const OWN = { link: OWNER };
/** From an owner row to the members of its organisation (a user's own rows match no organisation). */
const toMembers = {
  name: 'members',
  using: { manual_configuration: { remote_table: t('organization_member'), column_mapping: { owner_id: 'organization_id' } } },
  comment: 'members of the owning organisation (the read permission walks it)',
};
const toLink = {
  name: 'link',
  using: { manual_configuration: { remote_table: t('customer_link'), column_mapping: { customer_id: 'customer_id' } } },
  comment: 'the app owner of the row\'s customer (the read permission walks it)',
};
const BASE = ['id', 'customer_id', 'parent_id', 'data', 'deleted', 'last_event_at', 'synced_at', 'created', 'livemode'];

/** A mirrored table: users read their own customer's rows, admins everything. */
const owned = (name: string, extra: string[] = [], custom = `stripe_${name}`): TableSpec => ({
  table: t(name),
  configuration: { custom_name: custom },
  object_relationships: [toLink],
  select_permissions: [{ role: 'user', permission: { columns: [...BASE, ...extra], filter: OWN, allow_aggregations: true } }],
});
/** The catalogue (products, prices): every user reads it. */
const catalogue = (name: string, extra: string[]): TableSpec => ({
  table: t(name),
  configuration: { custom_name: `stripe_${name}` },
  select_permissions: [{ role: 'user', permission: { columns: [...BASE, ...extra], filter: { deleted: { _eq: false } } } }],
});
/** Admin only (charges, refunds, disputes, payment details; the event ledger). */
const adminOnly = (name: string): TableSpec => ({ table: t(name), configuration: { custom_name: `stripe_${name}` } });

const tables: TableSpec[] = [
  owned('customer', ['email', 'name']),
  {
    ...catalogue('product', ['name', 'active', 'description', 'metadata']),
    array_relationships: [{ name: 'prices', using: { manual_configuration: { remote_table: t('price'), column_mapping: { id: 'product_id' } } } }],
  },
  {
    ...catalogue('price', ['product_id', 'active', 'type', 'currency', 'unit_amount', 'lookup_key', 'recurring_interval', 'recurring_usage_type']),
    object_relationships: [{ name: 'product', using: { manual_configuration: { remote_table: t('product'), column_mapping: { product_id: 'id' } } } }],
  },
  {
    ...owned('subscription', ['status', 'cancel_at_period_end', 'cancel_at', 'trial_end', 'ended_at']),
    array_relationships: [{ name: 'items', using: { manual_configuration: { remote_table: t('subscription_item'), column_mapping: { id: 'parent_id' } } } }],
  },
  owned('subscription_item', ['price_id', 'quantity', 'current_period_end']),
  {
    ...owned('invoice', ['status', 'number', 'currency', 'total', 'amount_due', 'amount_paid', 'hosted_invoice_url', 'invoice_pdf', 'subscription_id']),
    array_relationships: [{ name: 'lines', using: { manual_configuration: { remote_table: t('invoice_line_item'), column_mapping: { id: 'parent_id' } } } }],
  },
  owned('invoice_line_item'),
  owned('payment_intent', ['status', 'amount', 'currency']),
  owned('charge', ['status', 'amount']),
  adminOnly('refund'),
  adminOnly('dispute'),
  owned('payment_method', ['type']),
  owned('checkout_session', ['status', 'mode']),
  adminOnly('coupon'),
  adminOnly('promotion_code'),
  owned('tax_id'),
  owned('setup_intent'),
  adminOnly('meter'),
  owned('active_entitlement_summary'),
  adminOnly('event'),
  adminOnly('sync_checkpoint'),
  {
    table: t('customer_link'),
    configuration: { custom_name: 'stripe_customer_link' },
    array_relationships: [toMembers],
    select_permissions: [{ role: 'user', permission: { columns: ['owner_type', 'owner_id', 'customer_id', 'created_at'], filter: OWNER } }],
  },
  {
    table: t('entitlement'),
    configuration: { custom_name: 'stripe_entitlement' },
    object_relationships: [toLink],
    select_permissions: [{ role: 'user', permission: { columns: ['customer_id', 'feature', 'source', 'product_id', 'subscription_id', 'updated_at'], filter: OWN } }],
  },
  {
    table: t('owner_plan'),
    configuration: { custom_name: 'stripe_owner_plan' },
    array_relationships: [toMembers],
    select_permissions: [
      { role: 'user', permission: { columns: ['owner_type', 'owner_id', 'customer_id', 'plan', 'subscription_id', 'status', 'product_id', 'features'], filter: OWNER } },
    ],
  },
  {
    table: t('usage_record'),
    configuration: { custom_name: 'stripe_usage_record' },
    object_relationships: [toLink],
    select_permissions: [{ role: 'user', permission: { columns: ['identifier', 'customer_id', 'event_name', 'value', 'created_at'], filter: OWN, allow_aggregations: true } }],
  },
  {
    table: t('billing_event'),
    configuration: { custom_name: 'stripe_billing_event' },
    array_relationships: [toMembers],
    select_permissions: [
      { role: 'user', permission: { columns: ['id', 'type', 'customer_id', 'object_id', 'data', 'created_at'], filter: OWNER } },
    ],
    event_triggers: [
      {
        name: 'stripe_billing_event_notify',
        definition: { insert: { columns: '*' } },
        retry_conf: { num_retries: 5, interval_sec: 30, timeout_sec: 30 },
        comment: 'Dunning notifications (failed payments, past due, trial ending) through the notifications plugin',
        handler: stripeBillingEventNotify,
      },
    ],
  },
  {
    // The app's organisation memberships (STRIPE_ORG_MEMBERS_TABLE), replaced at boot; users read their own.
    table: t('organization_member'),
    configuration: { custom_name: 'stripe_organization_member' },
    select_permissions: [{ role: 'user', permission: { columns: ['organization_id', 'user_id', 'can_manage_billing'], filter: { user_id: { _eq: ME } } } }],
  },
  {
    // Checkout by insert: the user inserts, the trigger writes back the session (or the refusal).
    table: t('checkout_request'),
    configuration: { custom_name: 'stripe_checkout_request' },
    insert_permissions: [
      {
        role: 'user',
        permission: {
          check: {},
          set: { owner_id: ME },
          columns: ['items', 'mode', 'success_url', 'cancel_url', 'organization_id', 'trial_days', 'allow_promotion_codes', 'promotion_code', 'automatic_tax', 'tax_id_collection'],
        },
      },
    ],
    select_permissions: [
      {
        role: 'user',
        permission: {
          columns: [
            'id', 'owner_id', 'organization_id', 'items', 'mode', 'success_url', 'cancel_url', 'trial_days', 'allow_promotion_codes', 'promotion_code',
            'automatic_tax', 'tax_id_collection', 'status', 'session_id', 'url', 'customer_id', 'expires_at', 'error_code', 'error_message', 'created_at', 'updated_at',
          ],
          filter: { owner_id: { _eq: ME } },
        },
      },
    ],
    event_triggers: [
      {
        name: 'stripe_checkout_request_create',
        definition: { insert: { columns: '*' } },
        retry_conf: { num_retries: 5, interval_sec: 10, timeout_sec: 40 },
        comment: 'Creates the Checkout Session of an inserted checkout request and writes back its URL or why it failed',
        handler: stripeCheckoutRequestCreate,
      },
    ],
  },
];

export const stripePlugin = definePlugin({
  name: 'stripe',
  version: '0.1.0',
  description: 'Stripe billing: a PostgreSQL mirror fed by verified, idempotent, out-of-order-safe webhooks and resumable backfills; checkout, portal, plan changes, metered usage and entitlements.',
  dependsOn: ['jobs'],
  optionalDependsOn: ['notifications', 'oauth'],
  config: stripeConfig,
  services: [stripeClient, stripeOrganizations, stripeDunning, stripeSessionClaims],
  tables,
  actions: {
    stripeCreateCheckoutSession: { handler: stripeCreateCheckoutSession, permissions: USERS, timeout: 30 },
    stripeCreatePortalSession: { handler: stripeCreatePortalSession, permissions: USERS, timeout: 30 },
    stripeCreateSetupIntent: { handler: stripeCreateSetupIntent, permissions: USERS, timeout: 30 },
    stripeChangePlan: { handler: stripeChangePlan, permissions: USERS, timeout: 30 },
    stripePreviewProration: { handler: stripePreviewProration, permissions: USERS, timeout: 30 },
    stripeCancelSubscription: { handler: stripeCancelSubscription, permissions: USERS, timeout: 30 },
    stripeResumeSubscription: { handler: stripeResumeSubscription, permissions: USERS, timeout: 30 },
    stripeRecordUsage: { handler: stripeRecordUsage, permissions: USERS, timeout: 30 },
    stripeInvoices: { handler: stripeInvoices, permissions: USERS, timeout: 10 },
  },
  crons: {
    stripe_reconcile: {
      schedule: '23 3 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 600, timeout_seconds: 120, tolerance_seconds: 21_600 },
      comment: 'Nightly backfill of every mirrored type and re-enqueue of events recorded but never applied',
      handler: stripeReconcile,
    },
  },
  jobs: STRIPE_JOBS,
  routes(router, runtime) {
    webhookRoute(router, runtime);
  },
});

export type { StripeConfig };
