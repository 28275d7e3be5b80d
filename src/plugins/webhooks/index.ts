/**
 * The webhooks plugin's public API for other plugins and the app's jobs:
 *
 *   import { webhooksEmitter } from '<path>/plugins/webhooks/index.js';
 *   await ctx.service(webhooksEmitter).emit({ type: 'invoice.paid', payload: { id }, idempotencyKey: event.id });
 */
export { webhooksPlugin } from './plugin.js';
export { webhooksEmitter, type WebhooksEmitter } from './lib/service.js';
export type { EmitInput, EmitResult, WebhookEventType } from './lib/emit.js';
export { defineWebhookEvent, type WebhookEventDefinition } from './lib/typed.js';
