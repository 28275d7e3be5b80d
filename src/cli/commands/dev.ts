import type { Command } from 'commander';
import { CliError, type CliContext } from '../context.js';
import { ConfigError } from '../../core/config.js';
import { RegistryError } from '../../core/registry.js';
import { PluginStartError } from '../../core/server.js';
import { startDev } from '../../dev/start.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('dev')
    .description('Development stand-in for Hasura: PostgreSQL, migrations, the handler server and a Hasura-shaped /v1/graphql (HTTP + WebSocket) on one port')
    .option('-p, --port <port>', 'listen on this port (overrides PORT)')
    .option('--host <host>', 'listen on this interface (overrides HOST)')
    .option('--project <dir>', 'also serve this Hasura CLI v3 project (its metadata and migrations)')
    .action(async (opts: { port?: string; host?: string; project?: string }) => {
      let dev;
      try {
        dev = await startDev(ctx.env, {
          ...(opts.port !== undefined ? { port: Number(opts.port) } : {}),
          ...(opts.host !== undefined ? { host: opts.host } : {}),
          ...(opts.project !== undefined ? { projectDir: opts.project } : {}),
          cwd: ctx.cwd,
        });
      } catch (e) {
        if (e instanceof ConfigError || e instanceof RegistryError || e instanceof PluginStartError) throw new CliError(e.message);
        throw new CliError(`nself-plugins dev could not start: ${(e as Error).message}`);
      }
      for (const line of dev.banner) ctx.out(line);
      await new Promise<void>((resolve) => {
        let received = false;
        const onSignal = () => {
          if (received) process.exit(1);
          received = true;
          void dev.stop().finally(resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
    });
}
