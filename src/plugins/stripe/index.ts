/** The stripe plugin's public API for other plugins and apps. */
export { stripePlugin } from './plugin.js';
export { stripeClient } from './lib/client.js';
export { OBJECT_TYPES, LISTABLE_TYPES } from './lib/objects.js';
export { HANDLED_EVENT_TYPES } from './lib/event-types.js';
export type { StripeConfig } from './config.js';
