/**
 * PostgreSQL "data exception" errors (SQLSTATE class 22: 22P02 invalid text representation, 22021 bad byte
 * sequence, 22003 numeric out of range, 22007 invalid datetime, 22001 string too long, …) say the value a
 * handler passed on was wrong, not that the server failed. The dispatcher maps them in one place: an action
 * answers 400 `invalid-input`, an event or cron is skipped with the reason recorded (a redelivery would
 * fail the same way).
 */

export interface DataError {
  code: string;
  message: string;
}

const MAX_DEPTH = 4;
const MAX_MESSAGE = 300;

/** The PostgreSQL data exception in `e` or its `cause` chain, if any. */
export function pgDataError(e: unknown): DataError | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < MAX_DEPTH && cur instanceof Error; depth++) {
    const code = (cur as { code?: unknown }).code;
    // pg's DatabaseError carries the server's severity; other errors with a `code` (Node's, BullMQ's) do not.
    if (typeof code === 'string' && code.length === 5 && code.startsWith('22') && typeof (cur as { severity?: unknown }).severity === 'string') {
      const m = cur.message;
      return { code, message: m.length > MAX_MESSAGE ? m.slice(0, MAX_MESSAGE - 3) + '...' : m };
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
