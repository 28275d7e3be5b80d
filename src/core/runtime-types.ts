import type { Logger } from 'pino';
import type { CoreConfig, Db, HandlerContext, PluginManifest, Session } from './plugin.js';
import type { QueueProvider } from './queue-types.js';

/** Everything a running suite holds: validated config, enabled plugins, pools. Built by `createRuntime`. */
export interface Runtime {
  readonly core: Readonly<CoreConfig>;
  /** Enabled plugins, dependencies first. */
  readonly plugins: readonly PluginManifest[];
  /** Each enabled plugin's frozen, validated settings. */
  readonly pluginConfig: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  readonly log: Logger;
  readonly db: Db;
  readonly queue: QueueProvider;
  /** Which engine serves each need (logged at boot, shown by coreVersion). */
  readonly engines: { database: 'external' | 'embedded'; queue: 'redis' | 'postgres' };
  /** A handler context for `plugin`. */
  contextFor(plugin: string, opts: { session: Session | null; requestId: string; log?: Logger }): HandlerContext;
  /** Closes pools and stops embedded servers (idempotent). */
  close(): Promise<void>;
}
