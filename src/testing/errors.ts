/** The metadata or the harness options cannot work (Hasura would report the object as inconsistent). */
export class HarnessConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HarnessConfigError';
  }
}

/**
 * The harness was asked to emulate something it does not implement (an operator, a transform…). It throws
 * instead of guessing, so a test never passes because the emulation silently allowed something.
 */
export class HarnessUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HarnessUnsupportedError';
  }
}

/**
 * An error Hasura itself would return, with its message and code (`validation-failed`, `not-found`, …).
 * `path` is Hasura's JSON path of the offending input.
 */
export class HasuraError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly path = '$',
  ) {
    super(message);
    this.name = 'HasuraError';
  }
}
