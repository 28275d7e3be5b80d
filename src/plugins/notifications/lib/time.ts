/**
 * Times in a user's zone (luxon, DST-aware): whether a moment falls in the user's quiet hours and when they
 * end, and the digest period a moment belongs to.
 */
import { DateTime, IANAZone } from 'luxon';

export const isTimeZone = (tz: string): boolean => typeof tz === 'string' && tz.length <= 64 && IANAZone.isValidZone(tz);

/** `HH:MM` or `HH:MM:SS` (PostgreSQL's `time` text) → minutes after midnight. */
export function minutesOf(time: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.\d+)?)?$/.exec(time);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/**
 * Whether `at` is inside the window from `start` to `end` (local times; a window over midnight when start >
 * end; empty when they are equal), and if so the instant it ends.
 */
export function quietUntil(at: Date, tz: string, start: string, end: string): Date | null {
  const s = minutesOf(start);
  const e = minutesOf(end);
  if (s === null || e === null || s === e) return null;
  const local = DateTime.fromJSDate(at, { zone: isTimeZone(tz) ? tz : 'UTC' });
  const now = local.hour * 60 + local.minute;
  const inside = s < e ? now >= s && now < e : now >= s || now < e;
  if (!inside) return null;
  // Wall-clock time (set, not plus): on a DST change day the end is still the local time the user chose.
  const at_ = (d: DateTime) => d.set({ hour: Math.floor(e / 60), minute: e % 60, second: 0, millisecond: 0 });
  let endAt = at_(local);
  if (endAt <= local) endAt = at_(local.plus({ days: 1 }));
  // A DST gap can put the end on a time that does not exist: luxon moves it forward, which is what we want.
  return endAt.toJSDate();
}

export type DigestPeriod = 'hourly' | 'daily' | 'weekly';

/**
 * Whether a digest of `period` is due for a user at `at` (the cron's scheduled hour), and the key of the
 * period: one digest per key. Daily and weekly digests go out in the user's `hour` (weekly on `weekday`, ISO).
 */
export function digestDue(at: Date, period: DigestPeriod, tz: string, hour: number, weekday: number): string | null {
  const local = DateTime.fromJSDate(at, { zone: isTimeZone(tz) ? tz : 'UTC' });
  if (period === 'hourly') return DateTime.fromJSDate(at, { zone: 'UTC' }).toFormat("yyyy-LL-dd'T'HH");
  if (local.hour !== hour) return null;
  if (period === 'daily') return local.toFormat('yyyy-LL-dd');
  if (local.weekday !== weekday) return null;
  return `${local.weekYear}-W${String(local.weekNumber).padStart(2, '0')}`;
}
