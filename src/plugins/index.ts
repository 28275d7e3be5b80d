/**
 * Every finished plugin, in dependency order. `PLUGINS_ENABLED` selects from these (default: all).
 */
import type { PluginManifest } from '../core/plugin.js';
import { corePlugin } from './core/plugin.js';
import { jobsPlugin } from './jobs/plugin.js';
import { filesPlugin } from './files/plugin.js';
import { emailPlugin } from './email/plugin.js';
import { notificationsPlugin } from './notifications/plugin.js';
import { realtimePlugin } from './realtime/plugin.js';
import { oauthPlugin } from './oauth/plugin.js';
import { webhooksPlugin } from './webhooks/plugin.js';
import { stripePlugin } from './stripe/plugin.js';
import { searchPlugin } from './search/plugin.js';

export const ALL_PLUGINS: readonly PluginManifest<any>[] = [corePlugin, jobsPlugin, filesPlugin, emailPlugin, notificationsPlugin, realtimePlugin, oauthPlugin, webhooksPlugin, stripePlugin, searchPlugin];
