/** Exit codes and how errors reach the terminal: a line that says what to fix, a stack only with --debug. */
import { ConfigError, ValidationError } from '../../shared/errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad input from the command line: exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError || err instanceof ConfigError || err instanceof ValidationError ? EXIT_USAGE : EXIT_FAILED;
}

export function report(err: unknown, debug: boolean): void {
  if (debug && err instanceof Error) {
    console.error(err.stack ?? String(err));
    if (err.cause) console.error('caused by:', err.cause);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(`spotbatch: ${message}`);
  if (err instanceof ValidationError && err.issues.length > 1) {
    for (const issue of err.issues) console.error(`  - ${issue.path || '(root)'}: ${issue.rule}`);
  }
  if (!debug) console.error('(run with --debug for details)');
}
