/** Cron expressions and time zones, checked before they reach BullMQ (whose errors are cryptic, or silent). */
import { CronExpressionParser } from 'cron-parser';

export function timezoneProblem(tz: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone "${tz}" (use an IANA name such as Europe/Berlin or UTC)`;
  }
}

export function cronProblem(expr: string, tz = 'UTC'): string | null {
  const fields = expr.trim().split(/\s+/);
  if (expr.length > 200 || (!expr.trim().startsWith('@') && (fields.length < 5 || fields.length > 6))) {
    return `invalid cron expression "${expr}": expected 5 fields (minute hour day month weekday) or 6 with seconds first`;
  }
  try {
    CronExpressionParser.parse(expr, { tz }).next();
    return null;
  } catch (e) {
    return `invalid cron expression "${expr}": ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** The next run of `expr` in `tz` after `from`. */
export function nextRun(expr: string, tz = 'UTC', from = new Date()): Date {
  return CronExpressionParser.parse(expr, { tz, currentDate: from }).next().toDate();
}
