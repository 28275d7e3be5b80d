/**
 * Cron triggers on wall time for `nself-plugins dev`: every tick creates the events of the occurrences since the
 * last tick (Hasura's cron scheduler); the harness's background processor delivers them. Occurrences missed
 * while dev was not running are not made up.
 */
import type { HasuraHarness } from '../testing/harness.js';

export class CronScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly harness: HasuraHarness,
    private last: Date = new Date(),
    private readonly intervalMs = 1000,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  /** Schedules the occurrences in (last tick, now]. */
  tick(now: Date = new Date()): Promise<number> {
    const from = this.last;
    if (now.getTime() <= from.getTime()) return Promise.resolve(0);
    this.last = now;
    const p = this.harness.scheduleCronEvents(from, now);
    this.running = p.catch(this.onError);
    return p;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick().catch(this.onError), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
