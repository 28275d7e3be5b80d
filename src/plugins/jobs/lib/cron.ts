/**
 * Cron expressions and time zones, checked before they reach BullMQ (whose errors are cryptic, or silent:
 * a schedule with no next run is dropped without a word). The check is BullMQ's own: its default repeat
 * strategy, on the cron-parser it depends on (package.json pins the same version, so there is one copy),
 * so an expression valid here is valid for the scheduler and the other way round.
 */
import { defaultRepeatStrategy } from 'bullmq';

export function timezoneProblem(tz: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone "${tz}" (use an IANA name such as Europe/Berlin or UTC)`;
  }
}

/** When BullMQ's scheduler would next run `expr` after `from`: a parse error throws, no next run is undefined. */
function schedulerNext(expr: string, tz: string, from: number): number | undefined {
  return defaultRepeatStrategy(from, { pattern: expr, tz }) as number | undefined;
}

export function cronProblem(expr: string, tz = 'UTC'): string | null {
  const fields = expr.trim().split(/\s+/);
  if (expr.length > 200 || (!expr.trim().startsWith('@') && (fields.length < 5 || fields.length > 6))) {
    return `invalid cron expression "${expr}": expected 5 fields (minute hour day month weekday) or 6 with seconds first`;
  }
  try {
    if (schedulerNext(expr, tz, Date.now()) === undefined) return `invalid cron expression "${expr}": it never runs`;
    return null;
  } catch (e) {
    return `invalid cron expression "${expr}": ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** The next run of `expr` in `tz` after `from`, as BullMQ's scheduler computes it. */
export function nextRun(expr: string, tz = 'UTC', from = new Date()): Date {
  const next = schedulerNext(expr, tz, from.getTime());
  if (next === undefined) throw new Error(`cron expression "${expr}" never runs`);
  return new Date(next);
}
