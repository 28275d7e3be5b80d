/** What every CLI command gets besides its own options: where to write, so tests can capture output. */
export interface CliContext {
  out(line: string): void;
  err(line: string): void;
  /** Working directory commands resolve relative paths against. */
  cwd: string;
  /** Environment to read settings from (process.env by default). */
  env: NodeJS.ProcessEnv;
  /**
   * Asks the operator for a value (install's prompts). Absent: a terminal on stdin is asked, and without one
   * nothing is.
   */
  ask?(question: string, opts: { secret: boolean }): Promise<string>;
}

/** A failure the CLI reports as one clear line and a non-zero exit code, without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
