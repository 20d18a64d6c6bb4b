/**
 * Typed errors. Every error class of the fleet derives from SpotbatchError,
 * which has a `name`, a `cause` (logged by the dispatcher, never shown on the
 * status page; for AWS errors a small record, never the SDK's own error, see
 * shared/aws-errors.ts) and whether retrying can help: a handler that throws a
 * retryable error is redelivered by SQS (visibility timeout); one that throws
 * a permanent error goes to the dead-letter queue at once, with its reason
 * logged once. The verdict for errors that are not ours (the AWS SDK's, a
 * socket's) is `isRetryable` in shared/aws-errors.ts.
 */

export interface ErrorOptions {
  cause?: unknown;
}

export class SpotbatchError extends Error {
  /** Whether the same work may succeed if tried again later. */
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpotbatchError';
    this.retryable = retryable;
  }
}

/** Trying again cannot help: bad input, unknown service, a missing resource that will never appear. */
export class PermanentError extends SpotbatchError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, false, options);
    this.name = 'PermanentError';
  }
}

/** Trying again later may help: throttling, a dependency not ready, a network blip. */
export class TransientError extends SpotbatchError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, true, options);
    this.name = 'TransientError';
  }
}

/**
 * A bug in the fleet's own code (an illegal state transition, a broken
 * invariant): the same message would hit it again, so it is permanent, and
 * the dispatcher logs it at error level with its stack, once.
 */
export class ProgrammingError extends SpotbatchError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, false, options);
    this.name = 'ProgrammingError';
  }
}

/** A move the entity's table of transitions (shared/states.ts) does not allow. */
export class IllegalTransitionError extends ProgrammingError {
  readonly entity: string;
  readonly from: string;
  readonly to: string;

  constructor(entity: string, from: string, to: string) {
    super(`${entity}: ${from} -> ${to} is not an allowed transition`);
    this.name = 'IllegalTransitionError';
    this.entity = entity;
    this.from = from;
    this.to = to;
  }
}

export interface ValidationIssue {
  /** Dotted path of the offending field (`tasks.count`), or the setting name. */
  path: string;
  /** The rule it broke, in words (`must be >= 1`). */
  rule: string;
}

/** Input that breaks its schema. Lists every problem, each with its field and rule. */
export class ValidationError extends PermanentError {
  readonly issues: ValidationIssue[];

  constructor(what: string, issues: ValidationIssue[], options: ErrorOptions = {}) {
    super(`${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.rule}`).join('; ')}`, options);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/** Configuration that cannot be used; names the setting and the rule. */
export class ConfigError extends ValidationError {
  constructor(issues: ValidationIssue[]) {
    super('invalid configuration', issues);
    this.name = 'ConfigError';
  }
}

/**
 * A conditional write found the row in another state or version than expected:
 * someone else moved it first (a duplicate or stale message). Not retryable:
 * the caller decides whether that is a no-op.
 */
export class StateConflictError extends SpotbatchError {
  readonly entity: string;
  readonly key: string;
  readonly expected: { state?: string | readonly string[]; version?: number };
  readonly actual: { state?: string; version?: number } | undefined;

  constructor(
    entity: string,
    key: string,
    expected: { state?: string | readonly string[]; version?: number },
    actual: { state?: string; version?: number } | undefined,
    options: ErrorOptions = {},
  ) {
    const want = [
      expected.state !== undefined ? `state ${[expected.state].flat().join('|')}` : '',
      expected.version !== undefined ? `version ${expected.version}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const got = actual ? `state ${actual.state}, version ${actual.version}` : 'no such row';
    super(`${entity} ${key}: expected ${want || 'absence'}, found ${got}`, false, options);
    this.name = 'StateConflictError';
    this.entity = entity;
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An error of the DynamoDB document client's marshaller (@aws-sdk/util-dynamodb),
 * thrown before any request is sent: the same value fails the same way every time.
 */
export function isMarshallError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof SpotbatchError || '$metadata' in err) return false;
  return /^(Unsupported type passed|Pass options\.|Pass a non-empty set|Only Number Set|Special numeric value|NumberValue should not|No value defined)/.test(err.message);
}

/** A one-line reason for logs and dead-letter attributes; never includes a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
