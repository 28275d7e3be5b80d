/**
 * The harness's notion of "now". It follows the wall clock plus an offset that only grows, so a test can jump
 * over a retry interval or a cron schedule (`advanceClock`) while HTTP timeouts stay real.
 */
export class HarnessClock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  /** Moves the clock forward to `to` (never backwards: a retry already scheduled must stay due). */
  advanceTo(to: Date): void {
    const delta = to.getTime() - this.now().getTime();
    if (delta > 0) this.offsetMs += delta;
  }

  get offset(): number {
    return this.offsetMs;
  }
}
