/**
 * Turns concurrent single-row statements into one statement over arrays. Calls made in the same turn of the
 * event loop (the deliveries of a webhooks batch job, the email send job's concurrent claims and results,
 * Stripe deliveries arriving together) are flushed together: one round trip for many instead of one each,
 * which is what decides throughput when PostgreSQL answers slowly.
 *
 * A batch that fails is run again one input at a time, so one bad row (a delivery whose endpoint was deleted
 * meanwhile) fails only its own caller and never the deliveries that happened to share its statement.
 */
export class StatementBatcher<I, O> {
  #pending: Array<{ input: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  #scheduled = false;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly max = 200,
  ) {}

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      if (this.#pending.length >= this.max) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#pending.splice(0);
    if (!batch.length) return;
    this.run(batch.map((b) => b.input)).then(
      (outs) => batch.forEach((b, i) => b.resolve(outs[i]!)),
      (e: unknown) => {
        if (batch.length === 1) return batch[0]!.reject(e);
        for (const b of batch) this.run([b.input]).then((o) => b.resolve(o[0]!), b.reject);
      },
    );
  }
}

/** Per-key instances (one batcher per database pool: tests and benchmarks run several runtimes in one process). */
export function batcherPer<K extends object, I, O>(make: (key: K) => StatementBatcher<I, O>): (key: K) => StatementBatcher<I, O> {
  const all = new WeakMap<K, StatementBatcher<I, O>>();
  return (key) => {
    let b = all.get(key);
    if (!b) {
      b = make(key);
      all.set(key, b);
    }
    return b;
  };
}

/** Limits how many deliveries a process has in flight; waiters are served in arrival order. */
export class Slots {
  #free: number;
  #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason ?? new Error('aborted'));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.#waiting.push(grant);
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
