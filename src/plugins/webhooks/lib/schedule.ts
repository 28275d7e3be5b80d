/**
 * When the next attempt of a failed delivery is due. `step` counts the failed attempts since the delivery was
 * (re)started: after the first failure the first delay of the schedule applies, and once the schedule is used
 * up the delivery has failed for good.
 */
export interface RetryDecision {
  /** Seconds until the next attempt; null: no further attempt. */
  delaySeconds: number | null;
}

export function nextRetryDelay(opts: {
  schedule: readonly number[];
  /** Failed attempts so far, this one included (1 after the first failure). */
  failures: number;
  jitter: number;
  /** The receiver's `Retry-After` in seconds (429/503), already capped. */
  retryAfterSeconds?: number | null;
  random?: () => number;
}): number | null {
  const base = opts.schedule[opts.failures - 1];
  if (base === undefined) return null;
  const rnd = opts.random ?? Math.random;
  // ±jitter around the scheduled delay, so endpoints failing together are not retried in lockstep.
  const jittered = Math.max(1, Math.round(base * (1 + opts.jitter * (2 * rnd() - 1))));
  // A receiver asking for more time gets it; one asking for less still waits for the schedule.
  return opts.retryAfterSeconds != null ? Math.max(jittered, opts.retryAfterSeconds) : jittered;
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
