import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ErrorClass = 'client' | 'handler' | 'retryable' | 'internal';

export interface QueueDepth {
  queue: string;
  state: string;
  count: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Records one handled request; `kind`/`name` come from the lookup tables, so label cardinality is bounded. */
  observe(kind: string, name: string, status: number, seconds: number): void;
  error(kind: string, name: string, cls: ErrorClass): void;
}

export interface MetricsOptions {
  /** Read on every scrape (never on the request path). */
  queueDepth?: () => Promise<QueueDepth[]>;
  /** Process metrics (CPU, memory, event loop lag); off in tests that create many registries. */
  defaultMetrics?: boolean;
}

/** A prom-client registry per runtime, so several runtimes in one process (tests) do not share counters. */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'nself_plugins_' });

  const latency = new Histogram({
    name: 'nself_plugins_handler_duration_seconds',
    help: 'Time from a complete request body to the response, per handler and HTTP status',
    labelNames: ['kind', 'name', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'nself_plugins_handler_errors_total',
    help: 'Requests that did not succeed: client (bad request), handler (ActionError), retryable, internal',
    labelNames: ['kind', 'name', 'class'] as const,
    registers: [registry],
  });
  const queueDepth = opts.queueDepth;
  new Gauge({
    name: 'nself_plugins_queue_jobs',
    help: 'Jobs per queue and state, read at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!queueDepth) return;
      this.reset();
      for (const d of await queueDepth()) this.set({ queue: d.queue, state: d.state }, d.count);
    },
  });

  // Status codes are few; caching their strings keeps the request path free of number formatting.
  const statusText = new Map<number, string>();
  const text = (status: number) => {
    let s = statusText.get(status);
    if (s === undefined) statusText.set(status, (s = String(status)));
    return s;
  };

  return {
    registry,
    observe(kind, name, status, seconds) {
      latency.observe({ kind, name, status: text(status) }, seconds);
    },
    error(kind, name, cls) {
      errors.inc({ kind, name, class: cls });
    },
  };
}
