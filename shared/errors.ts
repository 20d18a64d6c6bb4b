/**
 * Typed errors. Every error says whether retrying can help: a handler that
 * throws a retryable error is redelivered by SQS (visibility timeout); one
 * that throws a permanent error goes to the dead-letter queue at once, with
 * its reason logged once.
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

/** Whether an error (ours or the AWS SDK's) is worth retrying. Unknown errors are assumed transient; marshalling errors are not. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SpotbatchError) return err.retryable;
  if (isMarshallError(err)) return false;
  if (err && typeof err === 'object') {
    const e = err as { $retryable?: unknown; $fault?: unknown; name?: unknown };
    if (e.$retryable) return true;
    if (e.$fault === 'client' && typeof e.name === 'string' && !/Throttl|RequestLimitExceeded|TooManyRequests/.test(e.name)) {
      return false;
    }
  }
  return true;
}

/** A one-line reason for logs and dead-letter attributes; never includes a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
