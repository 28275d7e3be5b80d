/**
 * Coalesces adds to one queue that arrive in the same turn of the event loop into one `addBulk`. Under load
 * (many `jobsEnqueue` calls in flight) this turns N round trips into one: on the PostgreSQL backend a single
 * add is a transaction of its own, and one-by-one adds run at a small fraction of `addBulk`'s rate. A lone
 * add still goes out on the next turn, so latency stays a few microseconds.
 */
import type { Job, JobsOptions, Queue } from 'bullmq';

interface Pending {
  name: string;
  data: unknown;
  opts: JobsOptions;
  resolve: (job: Job) => void;
  reject: (e: unknown) => void;
}

export class AddBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly queue: Queue,
    private readonly maxBatch = 1000,
  ) {}

  add(name: string, data: unknown, opts: JobsOptions): Promise<Job> {
    return new Promise<Job>((resolve, reject) => {
      this.pending.push({ name, data, opts, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const b = batch[0]!;
      this.queue.add(b.name, b.data, b.opts).then(b.resolve, b.reject);
      return;
    }
    this.queue.addBulk(batch.map((b) => ({ name: b.name, data: b.data, opts: b.opts }))).then(
      (jobs) => batch.forEach((b, i) => b.resolve(jobs[i]!)),
      // addBulk is all or nothing: one by one, so each caller gets its own outcome.
      () => batch.forEach((b) => this.queue.add(b.name, b.data, b.opts).then(b.resolve, b.reject)),
    );
  }
}
