/** Exit codes and how errors reach the terminal: a line that says what to fix, a stack only with --debug. */
import { ConfigError, SpotbatchError, ValidationError } from '../../shared/errors.js';
import { NotFoundError } from '../remote/target.js';
import { MissingPathError } from '../remote/transfer.js';
import { NotFound } from '../status/views.js';

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
  return err instanceof UsageError || err instanceof ConfigError || err instanceof ValidationError || err instanceof NotFoundError || err instanceof NotFound || err instanceof MissingPathError
    ? EXIT_USAGE
    : EXIT_FAILED;
}

const ENDPOINT_HINT = 'check AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_DYNAMODB (`spotbatch local` prints them), or start the fleet with `spotbatch local`';

/** What an error from the AWS SDK or the network means for a person at a terminal, when it is a common one. */
export function explain(err: unknown): string | undefined {
  // Our own errors already say what happened (an SSH ECONNREFUSED is not the fleet's endpoint).
  if (err instanceof SpotbatchError || err instanceof UsageError) return undefined;
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT'].includes(code) || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(message)) {
    return `cannot reach the fleet's queues or tables (${message || code}): ${ENDPOINT_HINT}`;
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values do for `spotbatch local`) or AWS_PROFILE';
  }
  if (name === 'ResourceNotFoundException' || name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue' || /NonExistentQueue|does not exist/i.test(message)) {
    return `${message || name}: are SPOTBATCH_PREFIX and the endpoints those of the fleet? \`spotbatch setup\` creates the queues and tables`;
  }
  return undefined;
}

export function report(err: unknown, debug: boolean): void {
  if (debug && err instanceof Error) {
    console.error(err.stack ?? String(err));
    if (err.cause) console.error('caused by:', err.cause);
    return;
  }
  const message = explain(err) ?? (err instanceof Error ? err.message : String(err));
  console.error(`spotbatch: ${message}`);
  if (err instanceof ValidationError && err.issues.length > 1) {
    for (const issue of err.issues) console.error(`  - ${issue.path || '(root)'}: ${issue.rule}`);
  }
  if (!debug) console.error('(run with --debug for details)');
}
