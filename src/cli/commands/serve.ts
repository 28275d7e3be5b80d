import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { ConfigError } from '../../core/config.js';
import { RegistryError } from '../../core/registry.js';
import { createRuntime } from '../../core/runtime.js';
import { createServer, handleSignals, PluginStartError } from '../../core/server.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('Run the handler server for Hasura actions, event triggers and cron triggers (embedded PostgreSQL and queue when nothing is configured)')
    .option('-p, --port <port>', 'listen on this port (overrides PORT)')
    .option('--host <host>', 'listen on this interface (overrides HOST)')
    .action(async (opts: { port?: string; host?: string }) => {
      const env = { ...ctx.env };
      if (opts.port !== undefined) env.PORT = opts.port;
      if (opts.host !== undefined) env.HOST = opts.host;

      let runtime;
      try {
        runtime = await createRuntime(env);
      } catch (e) {
        // Settings and plugin-graph mistakes are the operator's to fix: one clear message, no stack.
        if (e instanceof ConfigError || e instanceof RegistryError) throw new CliError(e.message);
        throw e;
      }
      const server = createServer(runtime);
      try {
        await server.listen();
      } catch (e) {
        await server.shutdown('start failed');
        if (e instanceof PluginStartError) throw new CliError(e.message);
        throw new CliError(`cannot listen on ${runtime.core.HOST}:${runtime.core.PORT}: ${(e as Error).message}`);
      }
      const code = await new Promise<number>((resolve) => handleSignals(server, resolve));
      if (code !== 0) throw new CliError('shutdown did not complete cleanly; see the log');
    });
}
