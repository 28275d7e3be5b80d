/**
 * Values that would be silently changed or refused downstream, found before any handler sees them:
 * - U+0000 in text or keys: PostgreSQL `text`/`jsonb` cannot store it (22P05/22021 deep inside a handler);
 * - lone UTF-16 surrogates: encoding them to UTF-8 replaces them with U+FFFD, so what is stored differs from
 *   what was sent;
 * - numbers JSON.parse turns into ±Infinity (`1e309`): they become `null` when serialised again;
 * - bytes that are not UTF-8: decoding replaces them with U+FFFD.
 * The dispatcher answers actions with 400 and skips events/crons with the reason recorded.
 */
import { isUtf8 } from 'node:buffer';

export interface Unstorable {
  /** JSON path of the offending value, e.g. `input.data.note` (`(body)` for the whole body). */
  path: string;
  reason: string;
}

/**
 * Cheap pre-check on the raw text, so ordinary bodies skip the walk: U+0000 and lone surrogates can only
 * reach JSON.parse's output through a `\u` escape (raw control characters are invalid JSON, and UTF-8
 * decoding never yields a lone surrogate); a number only overflows with an exponent of three digits or with
 * very many digits.
 */
const BIG_EXPONENT = /[eE]\+?\d{3}/;
// A digit run is only scanned from its first digit (the \D anchor fails at once inside a run): linear time.
const LONG_DIGITS = /(?:^|\D)\d{300}/;

/** String.prototype.isWellFormed (Node ≥ 20; the project's TypeScript lib predates it). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

export function mayHoldUnstorable(raw: string, fromBytes: boolean): boolean {
  if (raw.includes('\\u')) return true;
  // A string handed to the dispatcher directly (not decoded from bytes) can carry a raw lone surrogate.
  if (!fromBytes && !wellFormed(raw)) return true;
  return BIG_EXPONENT.test(raw) || (raw.length >= 300 && LONG_DIGITS.test(raw));
}

function textProblem(s: string): string | undefined {
  if (s.includes('\0')) return 'contains U+0000, which PostgreSQL text cannot store';
  if (!wellFormed(s)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

const MAX_PATH = 200;

/** The first value in `value` that cannot be passed on unchanged, or undefined. Iterative (deep bodies). */
export function findUnstorable(value: unknown, root = ''): Unstorable | undefined {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    const where = () => (path.length > MAX_PATH ? path.slice(0, MAX_PATH) + '…' : path) || '(body)';
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p) return { path: where(), reason: `text ${p}` };
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { path: where(), reason: 'number is too large for a double (it would become null)' };
    } else if (v !== null && typeof v === 'object') {
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
      } else {
        for (const key of Object.keys(v)) {
          const child = path ? `${path}.${key}` : key;
          const p = textProblem(key);
          if (p) return { path: child.replace(/[\0\ud800-\udfff]/g, '?').slice(0, MAX_PATH), reason: `key ${p}` };
          stack.push([(v as Record<string, unknown>)[key], child]);
        }
      }
    }
  }
  return undefined;
}

/** A body's bytes decoded, or the reason they cannot be without change. */
export function decodeBody(raw: Buffer): { text: string; invalidUtf8: boolean } {
  // isUtf8 is a SIMD scan: far cheaper than the JSON parse that follows.
  return { text: raw.toString('utf8'), invalidUtf8: raw.length > 0 && !isUtf8(raw) };
}

/** Describes a problem for a message: `input.note: text contains U+0000, …`. */
export const describeUnstorable = (u: Unstorable): string => `${u.path}: ${u.reason}`;
