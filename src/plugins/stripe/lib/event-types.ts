/**
 * The webhook event types the plugin subscribes its endpoint to (`nself-plugins stripe webhooks ensure`): the
 * events of every mirrored object type. Anything else that arrives is recorded and ignored with a reason.
 */
export const HANDLED_EVENT_TYPES = [
  'customer.created', 'customer.updated', 'customer.deleted',
  'product.created', 'product.updated', 'product.deleted',
  'price.created', 'price.updated', 'price.deleted',
  'customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted',
  'customer.subscription.paused', 'customer.subscription.resumed', 'customer.subscription.trial_will_end',
  'customer.subscription.pending_update_applied', 'customer.subscription.pending_update_expired',
  'invoice.created', 'invoice.updated', 'invoice.finalized', 'invoice.paid', 'invoice.payment_failed',
  'invoice.payment_succeeded', 'invoice.payment_action_required', 'invoice.voided', 'invoice.marked_uncollectible',
  'invoice.deleted', 'invoice.overdue',
  'payment_intent.created', 'payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled',
  'payment_intent.processing', 'payment_intent.requires_action',
  'charge.succeeded', 'charge.failed', 'charge.refunded', 'charge.updated', 'charge.captured',
  'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed',
  'refund.created', 'refund.updated',
  'payment_method.attached', 'payment_method.detached', 'payment_method.updated',
  'checkout.session.completed', 'checkout.session.expired', 'checkout.session.async_payment_succeeded', 'checkout.session.async_payment_failed',
  'coupon.created', 'coupon.updated', 'coupon.deleted',
  'promotion_code.created', 'promotion_code.updated',
  'customer.tax_id.created', 'customer.tax_id.updated', 'customer.tax_id.deleted',
  'setup_intent.succeeded', 'setup_intent.setup_failed', 'setup_intent.canceled',
  'billing.meter.created', 'billing.meter.updated', 'billing.meter.deactivated', 'billing.meter.reactivated',
  'entitlements.active_entitlement_summary.updated',
] as const;
