/**
 * AWS errors turned into ours: throttling and service trouble are transient,
 * a client error that can never succeed is permanent and names the action and
 * AWS's message. The SDK error itself is never attached (its raw response could
 * hold a KeyMaterial body): the cause is a small record of code, status and id.
 */
import { PermanentError, SpotbatchError, TransientError } from './errors.js';

const TRANSIENT = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'ServiceFailure',
  'ServiceUnavailable',
  'Unavailable',
  'InternalError',
  'InternalFailure',
  'DependencyViolation',
  'IncorrectState',
  // right after a create, EC2 may not see the new resource by id yet (eventual consistency)
  'InvalidGroup.NotFound',
]);

interface SdkErrorLike {
  name?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** The AWS error code of an SDK error (its name), or undefined for anything else. */
export function awsCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as SdkErrorLike;
  if (!e.$metadata && e.$fault === undefined) return undefined;
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : undefined;
}

/** AWS messages may name an access key id; blank those out. */
function clean(message: string): string {
  return message.replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '[redacted]').slice(0, 500);
}

export class AwsCallError extends Error {
  readonly code: string;
  readonly httpStatusCode: number | undefined;
  readonly requestId: string | undefined;

  constructor(code: string, httpStatusCode: number | undefined, requestId: string | undefined) {
    super(code);
    this.name = 'AwsCallError';
    this.code = code;
    this.httpStatusCode = httpStatusCode;
    this.requestId = requestId;
  }
}

/** Our error for a failed AWS call. */
export function classify(action: string, err: unknown): SpotbatchError {
  if (err instanceof SpotbatchError) return err;
  const code = awsCode(err);
  if (!code) {
    const what = err instanceof Error ? err.name : 'error';
    return new TransientError(`${action} failed: ${what} (no answer from the service)`);
  }
  const e = err as SdkErrorLike;
  const message = typeof e.message === 'string' ? clean(e.message) : '';
  const cause = new AwsCallError(code, e.$metadata?.httpStatusCode, e.$metadata?.requestId);
  const text = `${action}: ${code}${message && message !== code ? `: ${message}` : ''}`;
  if (TRANSIENT.has(code) || e.$fault === 'server' || /Throttl|TooManyRequests/.test(code)) {
    return new TransientError(text, { cause });
  }
  return new PermanentError(text, { cause });
}

/** Run one AWS call; failures become TransientError or PermanentError. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classify(action, err);
  }
}

/** Run one AWS call; the listed error codes give `undefined` instead of an error. */
export async function callOr<T>(action: string, fn: () => Promise<T>, okCodes: readonly string[]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const code = awsCode(err);
    if (code && okCodes.includes(code)) return undefined;
    throw classify(action, err);
  }
}
