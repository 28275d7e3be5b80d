/**
 * Reading the timestamps Hasura hands to handlers, always as UTC.
 *
 * Hasura's texts come in three forms, and `Date.parse` reads one of them wrongly:
 * - an event's `created_at` is `hdb_catalog.event_log.created_at`, a `timestamp` without time zone, encoded
 *   from a Haskell `LocalTime` (server/src-lib/Hasura/Eventing/EventTrigger.hs, `EventPayload.epCreatedAt`):
 *   `"2023-05-01T12:34:56.123456"`, no zone. Hasura treats the stored value as UTC (its metrics convert it
 *   with `AT TIME ZONE 'UTC'`), but `Date.parse` reads a date-time without a zone as *local* time;
 * - a cron's `scheduled_time` and a `timestamptz` column in an event row carry a zone (`Z`, `+00:00`);
 * - a `timestamptz`/`timestamp` action argument is forwarded as the client wrote it: any text PostgreSQL
 *   accepts, including `2024-05-01 10:00`, a bare date, a `+05` offset, and `infinity`.
 *
 * `hasuraTimestampMs` accepts the ISO-8601 / PostgreSQL output forms of all three and reads a text without
 * a zone as UTC; other PostgreSQL inputs (`now`, `tomorrow`, `May 1 2024`, BC years) are NaN, so a handler
 * answers a clear 4xx instead of guessing.
 */

const TIMESTAMP =
  /^(\d{4,6})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(?:([zZ])|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/** UTC milliseconds of a calendar date and time; `setUTCFullYear` because `Date.UTC` maps years 0–99 to 1900–1999. */
function utcMs(year: number, month0: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  const midnight = new Date(0).setUTCFullYear(year, month0, day);
  return midnight + ((hour * 60 + minute) * 60 + second) * 1000 + ms;
}

const daysIn = (year: number, month: number): number => new Date(utcMs(year, month, 0, 0, 0, 0, 0)).getUTCDate();

/**
 * Milliseconds since the epoch of a Hasura/PostgreSQL timestamp text, read as UTC when it has no zone;
 * `Infinity`/`-Infinity` for PostgreSQL's `infinity`/`-infinity`; NaN for anything else. Fractions beyond
 * milliseconds are truncated (JavaScript dates hold milliseconds).
 */
export function hasuraTimestampMs(text: string): number {
  if (typeof text !== 'string' || text.length > 64) return NaN;
  const s = text.trim();
  const lower = s.toLowerCase();
  if (lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-infinity') return -Infinity;
  const m = TIMESTAMP.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, hh = '0', mi = '0', ss = '0', frac = '', z, sign, oh = '0', om = '0', os = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(hh);
  const minute = Number(mi);
  const second = Number(ss);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return NaN;
  // PostgreSQL accepts 24:00:00 (the end of the day) and a leap second 60, which it rolls over.
  if (hour > 24 || minute > 59 || second > 60 || (hour === 24 && (minute > 0 || second > 0 || /[1-9]/.test(frac)))) return NaN;
  const ms = Number((frac + '00').slice(0, 3));
  let offsetMs = 0;
  if (!z && sign) {
    const h = Number(oh);
    const m2 = Number(om);
    const s2 = Number(os);
    if (h > 15 || m2 > 59 || s2 > 59) return NaN;
    offsetMs = (sign === '-' ? -1 : 1) * ((h * 60 + m2) * 60 + s2) * 1000;
  }
  return utcMs(year, month - 1, day, hour, minute, second, ms) - offsetMs;
}

/** The instant of a Hasura/PostgreSQL timestamp text (read as UTC when it has no zone), or undefined when it is not a finite one. */
export function parseHasuraTimestamp(text: string): Date | undefined {
  const ms = hasuraTimestampMs(text);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms) : undefined;
}
