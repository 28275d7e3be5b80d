/**
 * The realtime plugin's public API for other plugins, the app server and client tooling: the documents clients
 * run (with each subscription's SQL), the call notifier service and the shape it expects from the notifications
 * plugin, and the TURN credential helper.
 */
export { REALTIME_DOCUMENTS, realtimeDocument, subscriberVars } from './documents.js';
export type { RealtimeDocument } from './documents.js';
export { realtimeCallNotifier, CALL_CATEGORIES, CALL_CATEGORY_DEFINITIONS } from './lib/notify.js';
export type { NotificationsSender, CallNotifier, CallNotice } from './lib/notify.js';
export { turnCredential, iceServers } from './lib/ice.js';
export type { RealtimeConfig } from './config.js';
