/**
 * Coalesces concurrent single-row statements into one: calls made in the same turn of the event loop (the
 * send job runs 20 at once per worker) are flushed together as one statement over an array of inputs. On the
 * send path each message needs a claim and a result write; one round trip per batch instead of per message is
 * what the pg client's five-message extended protocol makes worth it.
 */
export class Coalescer<I, O> {
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
      (e) => batch.forEach((b) => b.reject(e)),
    );
  }
}
