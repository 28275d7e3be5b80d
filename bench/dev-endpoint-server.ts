/**
 * The dev endpoint in a process of its own for the dev-* benchmarks (so the load generator does not share its
 * event loop): reads DEV_BENCH_DATABASE_URL and DEV_BENCH_METADATA (JSON), prints `READY <port>`, stops on SIGTERM.
 */
import { createDevEndpoint } from '../src/dev/endpoint.js';

const endpoint = await createDevEndpoint({
  databaseUrl: process.env.DEV_BENCH_DATABASE_URL!,
  metadata: JSON.parse(process.env.DEV_BENCH_METADATA!) as Record<string, unknown>,
  subscriptions: { refetchIntervalMs: Number(process.env.DEV_BENCH_REFETCH_MS ?? 1000) },
  harness: { autoStart: false },
});
const { port } = await endpoint.listen(0, '127.0.0.1');
process.stdout.write(`READY ${port}\n`);
process.on('SIGTERM', () => {
  void endpoint.close().finally(() => process.exit(0));
});
