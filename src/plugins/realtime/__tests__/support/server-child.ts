/**
 * A handler server in its own process (run with `node --import tsx`), configured from the environment like a
 * replica in production. Prints `READY <port>` once it listens; exits on SIGTERM.
 */
import { createRuntime } from '../../../../core/runtime.js';
import { createServer } from '../../../../core/server.js';

const runtime = await createRuntime(process.env);
const server = createServer(runtime);
const { url } = await server.listen(0, '127.0.0.1');
process.stdout.write(`READY ${new URL(url).port}\n`);
process.once('SIGTERM', () => {
  void server.shutdown('SIGTERM').then(() => process.exit(0));
});
