/**
 * The handler server in a process of its own, for the files benchmarks: configured from the environment
 * like `nself-plugins serve`, prints `ready <url> <pid>` once listening, stops on SIGTERM. A benchmark that
 * measures the server's memory or shares the machine with storage runs it here, apart from its clients.
 */
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';

const runtime = await createRuntime(process.env);
const server = createServer(runtime);
const { url } = await server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
console.log(`ready ${url} ${process.pid}`);
process.once('SIGTERM', () => {
  void server.shutdown('SIGTERM').then(() => process.exit(0));
});
