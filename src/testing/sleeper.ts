/** A sleep that `wake()` cuts short, so `drain()` and fresh writes never wait out a poll interval. */
export class Sleeper {
  private pending: { resolve: () => void; timer: NodeJS.Timeout } | undefined;
  private woken = false;

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        resolve();
      }, ms);
      this.pending = { resolve, timer };
    });
  }

  /** Ends the current sleep, or makes the next one return at once. */
  wake(): void {
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve();
    } else {
      this.woken = true;
    }
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
