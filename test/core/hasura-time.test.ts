/**
 * Hasura's timestamp texts read as UTC, whatever the process's time zone. An event's `created_at` has no
 * zone since Hasura encodes `event_log.created_at` as a `LocalTime` (server/src-lib/Hasura/Eventing/
 * EventTrigger.hs, `EventPayload.epCreatedAt :: Time.LocalTime`); `Date.parse` would read it as local time.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { packageRoot } from '../../src/core/paths.js';
import { hasuraTimestampMs, parseHasuraTimestamp } from '../../src/core/hasura-time.js';

const execFileP = promisify(execFile);

/** Evaluates `expr` (with `hasuraTimestampMs` in scope) in a process whose time zone is `tz`. */
async function inTimeZone(tz: string, expr: string): Promise<unknown> {
  const mod = pathToFileURL(join(packageRoot, 'src/core/hasura-time.ts')).href;
  const script = `import('${mod}').then(({ hasuraTimestampMs }) => console.log(JSON.stringify(${expr})))`;
  const { stdout } = await execFileP(join(packageRoot, 'node_modules/.bin/tsx'), ['-e', script], { env: { ...process.env, TZ: tz }, timeout: 30_000 });
  return JSON.parse(stdout);
}

describe('hasuraTimestampMs', () => {
  it('reads an event created_at (no zone, microseconds) as UTC, where Date.parse reads local time', async () => {
    const text = '2023-05-01T12:34:56.123456';
    expect(hasuraTimestampMs(text)).toBe(Date.UTC(2023, 4, 1, 12, 34, 56, 123));
    // in a process on New York time: the helper still reads UTC; Date.parse is four hours off
    expect(await inTimeZone('America/New_York', `[hasuraTimestampMs('${text}'), Date.parse('${text}')]`)).toEqual([
      Date.UTC(2023, 4, 1, 12, 34, 56, 123),
      Date.UTC(2023, 4, 1, 16, 34, 56, 123),
    ]);
  });

  it('honours zones: Z, ±HH, ±HHMM, ±HH:MM, ±HH:MM:SS', () => {
    const at = Date.UTC(2024, 4, 1, 10, 0, 0);
    expect(hasuraTimestampMs('2024-05-01T10:00:00Z')).toBe(at);
    expect(hasuraTimestampMs('2024-05-01T10:00:00.000+00:00')).toBe(at);
    expect(hasuraTimestampMs('2024-05-01T12:00:00+02')).toBe(at);
    expect(hasuraTimestampMs('2024-05-01T15:30:00+0530')).toBe(at);
    expect(hasuraTimestampMs('2024-05-01T06:30:00-03:30')).toBe(at);
    expect(hasuraTimestampMs('2024-05-01T10:00:10+00:00:10')).toBe(at);
  });

  it("accepts PostgreSQL's output forms: a space for T, a bare date, minutes only, 24:00, a leap second", () => {
    expect(hasuraTimestampMs('2024-05-01 10:00:00')).toBe(Date.UTC(2024, 4, 1, 10));
    expect(hasuraTimestampMs('2024-05-01 10:00')).toBe(Date.UTC(2024, 4, 1, 10));
    expect(hasuraTimestampMs('2024-05-01')).toBe(Date.UTC(2024, 4, 1));
    expect(hasuraTimestampMs('2024-05-01 24:00:00')).toBe(Date.UTC(2024, 4, 2));
    expect(hasuraTimestampMs('2016-12-31T23:59:60Z')).toBe(Date.UTC(2017, 0, 1));
    expect(hasuraTimestampMs('0044-03-15')).toBe(new Date(0).setUTCFullYear(44, 2, 15));
  });

  it('maps infinity to ±Infinity and refuses what it cannot read exactly', () => {
    expect(hasuraTimestampMs('infinity')).toBe(Infinity);
    expect(hasuraTimestampMs(' -Infinity ')).toBe(-Infinity);
    for (const bad of ['now', 'tomorrow', 'May 1 2024', '2024-02-30', '2023-02-29', '2024-13-01', '2024-05-01T25:00', '2024-05-01T10:60', '2024-05-01 24:00:01', '2024-05-01T10:00+16', '', 'x'.repeat(100)]) {
      expect(hasuraTimestampMs(bad)).toBeNaN();
    }
    expect(hasuraTimestampMs(42 as unknown as string)).toBeNaN();
  });

  it('agrees with Date for every ISO text that carries a zone, and with Date in UTC for every text without one', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0100-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const iso = d.toISOString();
        expect(hasuraTimestampMs(iso)).toBe(d.getTime());
        expect(hasuraTimestampMs(iso.slice(0, -1))).toBe(d.getTime());
        expect(hasuraTimestampMs(iso.replace('T', ' ').replace('Z', '+00:00'))).toBe(d.getTime());
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseHasuraTimestamp', () => {
  it('gives a Date for finite timestamps and undefined otherwise', () => {
    expect(parseHasuraTimestamp('2023-05-01T12:34:56.123456')?.toISOString()).toBe('2023-05-01T12:34:56.123Z');
    expect(parseHasuraTimestamp('infinity')).toBeUndefined();
    expect(parseHasuraTimestamp('yesterday')).toBeUndefined();
  });
});
