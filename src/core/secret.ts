/**
 * The shared-secret check every Hasura-facing route uses (webhooks, remote schemas). It runs on every
 * request, before the body is read, so it must be cheap and must not reveal the secret through timing.
 */
import { timingSafeEqual } from 'node:crypto';

export type SecretCheck = (value: string | string[] | undefined) => boolean;

/**
 * A constant-time matcher for `secret`. The expected bytes are encoded once; a candidate of the right length
 * is written into a preallocated buffer and compared with `timingSafeEqual`, so a request costs no hash
 * and no allocation. Only the length can be learned from timing, and the length of a secret of at least
 * 16 random characters does not help guess it. (Hashing both sides hides the length too but cost ~7 µs a
 * request here.)
 */
export function secretMatcher(secret: string): SecretCheck {
  const expected = Buffer.from(secret, 'utf8');
  const scratch = Buffer.alloc(expected.length);
  const chars = secret.length;
  return (value) => {
    if (typeof value !== 'string' || value.length !== chars) return false;
    // With equal character counts, a candidate whose UTF-8 form is longer is cut at a character boundary
    // and reports fewer bytes written, so only an exact byte match can pass.
    const written = scratch.write(value, 0, 'utf8');
    // The comparison runs whatever `written` is: its time does not depend on where the bytes differ.
    const same = timingSafeEqual(scratch, expected);
    return same && written === expected.length;
  };
}
