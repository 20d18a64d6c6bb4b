/**
 * The one translator of AWS errors into ours: every AWS call in the fleet
 * (EC2, IAM, S3, SQS, DynamoDB) that turns an SDK error into a TransientError
 * or a PermanentError does it here, and the dispatcher's `isRetryable` reads
 * the same table for an SDK error that escapes a handler untranslated.
 *
 * The verdict, in order:
 * 1. the code is in AWS_ERROR_CODES: that verdict;
 * 2. a throttling code (`Throttl...`, `TooManyRequests...`), an error the SDK
 *    marks `$retryable`, or a server fault (5xx): transient;
 * 3. any other AWS error that is the request's fault (`$fault: 'client'`, or
 *    a 4xx): permanent, naming the action and AWS's code; else transient;
 * 4. no AWS code at all (no answer: a reset socket, a timeout): transient.
 *
 * The SDK error itself is never attached (its raw response could hold a
 * KeyMaterial body or a presigned URL): the cause is an AwsCallError, a small
 * record of code, status and request id, logged by the dispatcher, never shown
 * on the status page.
 */
import { isMarshallError, PermanentError, SpotbatchError, TransientError } from './errors.js';

export type Verdict = 'transient' | 'permanent';

/**
 * AWS codes whose verdict the fleet decides, with why. Codes not listed fall
 * to the rules above; the permanent entries are listed where a reader might
 * expect otherwise.
 */
export const AWS_ERROR_CODES: Readonly<Record<string, Verdict>> = {
  // Throttling ("Retries and exponential backoff" in the EC2 and IAM API references; S3's SlowDown; DynamoDB's throughput).
  RequestLimitExceeded: 'transient',
  Throttling: 'transient',
  ThrottlingException: 'transient',
  TooManyRequestsException: 'transient',
  RequestThrottled: 'transient',
  RequestThrottledException: 'transient',
  SlowDown: 'transient',
  ProvisionedThroughputExceededException: 'transient',
  // The service's own trouble, whatever status it came with.
  ServiceFailure: 'transient',
  ServiceUnavailable: 'transient',
  Unavailable: 'transient',
  InternalError: 'transient',
  InternalFailure: 'transient',
  // Another change to the same resource is under way (IAM, EC2): the next try finds it done.
  ConcurrentModification: 'transient',
  ConcurrentModificationException: 'transient',
  IncorrectState: 'transient',
  // "The specified object has dependent resources ... Remove the dependencies first, then retry
  // your request" (EC2 error codes). The fleet meets it in teardown: a security group still
  // attached to the network interface of an instance that is shutting down. It clears once the
  // instance has terminated, so it is transient (the teardown comes back with its backoff).
  DependencyViolation: 'transient',
  // Right after a create, EC2 may not see the new group by id yet ("Eventual consistency in the
  // Amazon EC2 API"); the callers that know the group is long gone ask for it by callOr.
  'InvalidGroup.NotFound': 'transient',
  // Refused for good, whatever the status: the same request gets the same answer.
  UnauthorizedOperation: 'permanent',
  AccessDenied: 'permanent',
  AccessDeniedException: 'permanent',
  InvalidParameterValue: 'permanent',
  ValidationError: 'permanent',
  ValidationException: 'permanent',
  LimitExceeded: 'permanent',
  NoSuchBucket: 'permanent',
};

const THROTTLED = /Throttl|TooManyRequests|RequestLimitExceeded/;
/** Throttling codes the pattern above does not catch. */
const THROTTLING_CODES: ReadonlySet<string> = new Set(['SlowDown', 'ProvisionedThroughputExceededException']);

interface SdkErrorLike {
  name?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** The AWS error code of an SDK error (its `Code`, else its name), or undefined for anything else. */
export function awsCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as SdkErrorLike;
  if (e.$metadata === undefined && e.$fault === undefined) return undefined;
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : undefined;
}

/** Whether AWS throttled the call (past the SDK's own retries, when it escapes a call). */
export function isThrottled(err: unknown): boolean {
  const code = awsCode(err);
  return code !== undefined && (THROTTLED.test(code) || THROTTLING_CODES.has(code));
}

/** Whether an AWS SDK error is worth trying again (the table, then the rules above); undefined for what is not an AWS error. */
export function awsVerdict(err: unknown): Verdict | undefined {
  const code = awsCode(err);
  if (code === undefined) return undefined;
  const listed = AWS_ERROR_CODES[code];
  if (listed) return listed;
  const e = err as SdkErrorLike;
  if (THROTTLED.test(code) || e.$retryable || e.$fault === 'server') return 'transient';
  if (e.$fault === 'client') return 'permanent';
  // No fault named: by the HTTP status, a 4xx is the request's own fault.
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 ? 'permanent' : 'transient';
}

/**
 * Whether an error is worth retrying: ours say so (`retryable`); an AWS
 * error by the table; a marshalling error never (the same value fails the
 * same way); anything else (no answer, a reset socket) is assumed transient.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SpotbatchError) return err.retryable;
  if (isMarshallError(err)) return false;
  const verdict = awsVerdict(err);
  return verdict === undefined || verdict === 'transient';
}

/** AWS messages may name an access key id; blank those out, keep one line. */
function clean(message: string): string {
  return message
    .split('\n', 1)[0]!
    .replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '[redacted]')
    .slice(0, 500);
}

/** What is kept of a failed AWS call: the code, the HTTP status and the request id; never the raw response. */
export class AwsCallError extends SpotbatchError {
  readonly code: string;
  readonly httpStatusCode: number | undefined;
  readonly requestId: string | undefined;

  constructor(code: string, httpStatusCode: number | undefined, requestId: string | undefined, retryable = false) {
    super(code, retryable);
    this.name = 'AwsCallError';
    this.code = code;
    this.httpStatusCode = httpStatusCode;
    this.requestId = requestId;
  }
}

/**
 * Our error for a failed AWS call: `<action>: <code>: <AWS's message>`,
 * transient or permanent by the table. Our own errors pass through as they are.
 */
export function translateAwsError(action: string, err: unknown): SpotbatchError {
  if (err instanceof SpotbatchError) return err;
  const code = awsCode(err);
  const verdict = awsVerdict(err);
  if (!code || !verdict) {
    const what = err instanceof Error ? err.name : 'error';
    return new TransientError(`${action} failed: ${what} (no answer from the service)`);
  }
  const e = err as SdkErrorLike;
  const message = typeof e.message === 'string' ? clean(e.message) : '';
  const cause = new AwsCallError(code, e.$metadata?.httpStatusCode, e.$metadata?.requestId, verdict === 'transient');
  const text = `${action}: ${code}${message && message !== code ? `: ${message}` : ''}`;
  return verdict === 'transient' ? new TransientError(text, { cause }) : new PermanentError(text, { cause });
}

/** Run one AWS call; failures become TransientError or PermanentError. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateAwsError(action, err);
  }
}

/** Run one AWS call; the listed error codes give `undefined` instead of an error. */
export async function callOr<T>(action: string, fn: () => Promise<T>, okCodes: readonly string[]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const code = awsCode(err);
    if (code && okCodes.includes(code)) return undefined;
    throw translateAwsError(action, err);
  }
}
