import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

export type ErrorClass = 'client' | 'handler' | 'retryable' | 'internal';

export interface QueueDepth {
  queue: string;
  state: string;
  count: number;
}

/** Records the latency of one request to a fixed handler; status codes are few, so each gets a cached series. */
export type Observer = (status: number, seconds: number) => void;

export interface Metrics {
  readonly registry: Registry;
  /** An observer for one handler, made once at boot; `kind`/`name` come from the lookup tables (bounded cardinality). */
  observer(kind: string, name: string): Observer;
  error(kind: string, name: string, cls: ErrorClass): void;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Series {
  labels: { kind: string; name: string; status: string };
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * The handler latency histogram, kept outside prom-client's Histogram: that one validates and hashes the
 * label set on every observation, which shows on the webhook hot path. Here a handler's series is found
 * once and an observation is a bucket search and three additions. prom-client's registry serialises it
 * through the same `get()` contract its own metrics implement.
 */
class LatencyHistogram {
  readonly name = 'nself_plugins_handler_duration_seconds';
  readonly help = 'Time from a complete request body to the response, per handler and HTTP status';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series: Series[] = [];

  series(kind: string, name: string, status: number): Series {
    const s: Series = { labels: { kind, name, status: String(status) }, counts: new Array<number>(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
    this.#series.push(s);
    return s;
  }

  observe(s: Series, seconds: number): void {
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  async get() {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const s of this.#series) {
      let cumulative = 0;
      for (let i = 0; i <= BUCKETS.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ value: cumulative, labels: { le: i < BUCKETS.length ? BUCKETS[i]! : '+Inf', ...s.labels }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const s of this.#series) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
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
  // The event-loop lag sampler wakes the process every `precision` ms: at prom-client's 10 ms that alone cost
  // ~7 ms of CPU per second on an idle replica. 100 ms still catches the stalls worth alerting on.
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'nself_plugins_', eventLoopMonitoringPrecision: 100 });

  const latency = new LatencyHistogram();
  registry.registerMetric(latency as unknown as Metric);
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

  const observers = new Map<string, Observer>();

  return {
    registry,
    observer(kind, name) {
      const key = `${kind}\0${name}`;
      let o = observers.get(key);
      if (!o) {
        const byStatus = new Map<number, Series>();
        o = (status, seconds) => {
          let s = byStatus.get(status);
          if (!s) byStatus.set(status, (s = latency.series(kind, name, status)));
          latency.observe(s, seconds);
        };
        observers.set(key, o);
      }
      return o;
    },
    error(kind, name, cls) {
      errors.inc({ kind, name, class: cls });
    },
  };
}
