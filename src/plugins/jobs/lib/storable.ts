/**
 * What either queue backend would refuse or silently change, checked before anything is added, so that a
 * bad payload is a 4xx naming the place, never a 500 from the backend halfway through a bulk add.
 *
 * - PostgreSQL stores job data as `jsonb` and ids as `text`: neither holds U+0000, and `jsonb` rejects a
 *   lone UTF-16 surrogate (`\ud800` without its pair); node-postgres would turn one in `text` into U+FFFD.
 * - Both backends go through `JSON.stringify`, which throws on cycles and BigInt, turns NaN/Infinity into
 *   `null` and drops `undefined` and functions: data must be plain JSON to come back as it was given.
 * - Deep nesting overflows PostgreSQL's parser stack ("stack depth limit exceeded") and Redis's Lua cjson
 *   (1000 levels); the limit here is far below both.
 * The same rules hold on both backends, so data valid on one is valid on the other.
 */

/** Deepest nesting of objects and arrays accepted in job data. */
export const MAX_DATA_DEPTH = 64;

/** U+0000, or a UTF-16 surrogate not part of a pair. */
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `s` cannot be stored as PostgreSQL text, or null. */
export function textProblem(s: string): string | null {
  const m = BAD_TEXT.exec(s);
  if (!m) return null;
  return m[0] === '\u0000'
    ? 'contains the character U+0000, which PostgreSQL cannot store'
    : `contains a lone UTF-16 surrogate (\\u${m[0].charCodeAt(0).toString(16)}), which is not valid Unicode text`;
}

export interface StorableIssue {
  /** Where in the value, as in zod issues (`[]` for the value itself). */
  path: (string | number)[];
  message: string;
}

/**
 * The first problem that keeps `value` from being stored and read back unchanged as job data, or null.
 * `maxBytes` bounds its size as JSON (UTF-8).
 */
export function storableProblem(value: unknown, maxBytes: number): StorableIssue | null {
  const problem = shapeProblem(value, [], 0, new Set());
  if (problem) return problem;
  // Measured only now: the walk above has ruled out what JSON.stringify would throw on or change.
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  return size > maxBytes ? { path: [], message: `is ${size} bytes as JSON, more than the ${maxBytes} allowed` } : null;
}

function shapeProblem(v: unknown, path: (string | number)[], depth: number, open: Set<object>): StorableIssue | null {
  switch (typeof v) {
    case 'string': {
      const p = textProblem(v);
      return p ? { path, message: `text ${p}` } : null;
    }
    case 'number':
      return Number.isFinite(v) ? null : { path, message: `${v} is not a JSON number` };
    case 'boolean':
      return null;
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_DATA_DEPTH) return { path, message: `is nested deeper than ${MAX_DATA_DEPTH} levels` };
      if (open.has(v)) return { path, message: 'refers to itself (a cycle)' };
      if (!Array.isArray(v) && !isPlainObject(v)) {
        // A Date, Map or class instance would come back as a string or `{}`, not as it was given.
        return { path, message: `is a ${v.constructor?.name ?? 'non-plain'} object, not JSON (convert it to a string or number first)` };
      }
      open.add(v);
      try {
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            if (v[i] === undefined) return { path: [...path, i], message: 'is undefined, which JSON turns into null' };
            const p = shapeProblem(v[i], [...path, i], depth + 1, open);
            if (p) return p;
          }
          return null;
        }
        for (const [k, child] of Object.entries(v)) {
          const kp = textProblem(k);
          if (kp) return { path: [...path, k], message: `key ${kp}` };
          // An undefined member is left out by JSON, as an optional field that was not given.
          if (child === undefined) continue;
          const p = shapeProblem(child, [...path, k], depth + 1, open);
          if (p) return p;
        }
        return null;
      } finally {
        open.delete(v);
      }
    }
    case 'undefined':
      return { path, message: 'is undefined, which is not JSON' };
    default:
      return { path, message: `is a ${typeof v}, which is not JSON` };
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
