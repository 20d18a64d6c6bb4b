/**
 * The one backoff rule of the fleet: exponential, capped, with jitter, for
 * AWS call retries inside a handler and for messages sent back with a delay.
 *
 * try n (0-based) waits base * 2^n, at most `cap`, jittered:
 * - `full`: uniform in [min, that] (AWS's "full jitter": spreads a herd best);
 * - `equal`: uniform in [that / 2, that] (never less than half: for loops that
 *   must not hammer, such as teardown waiting for instances);
 * - `none`: exactly that (tests and documented fixed sequences).
 * See "Exponential backoff and jitter" (AWS Architecture Blog) and the EC2
 * API's "Retries and exponential backoff".
 */

export type Jitter = 'full' | 'equal' | 'none';

export interface BackoffPolicy {
  /** Delay of try 0 before jitter, in the caller's unit (seconds or milliseconds). */
  base: number;
  /** Largest delay, same unit; a jittered delay never exceeds it. */
  cap: number;
  jitter: Jitter;
  /** Smallest delay, same unit (default 0); applied after jitter, never above cap. */
  min?: number;
}

/** A source of numbers in [0, 1): Math.random, or seededRandom(seed) for tests. */
export type Random = () => number;

/** mulberry32: a small seeded generator, for tests that need the same jitter twice. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The ceiling of try n before jitter: base * 2^n, at most cap. */
export function backoffCeiling(tries: number, policy: BackoffPolicy): number {
  const n = Math.min(Math.max(0, Math.floor(tries)), 52);
  return Math.min(policy.cap, policy.base * 2 ** n);
}

/** The delay before try n + 1 (after n failed tries), in the policy's unit. */
export function backoffDelay(tries: number, policy: BackoffPolicy, random: Random = Math.random): number {
  const ceiling = backoffCeiling(tries, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = policy.jitter === 'full' ? ceiling * r : policy.jitter === 'equal' ? ceiling / 2 + (ceiling / 2) * r : ceiling;
  return Math.min(policy.cap, Math.max(policy.min ?? 0, jittered));
}

/**
 * The same as whole seconds, for SQS DelaySeconds / VisibilityTimeout
 * (integers, 0 to 900 / 43,200): rounded up, so a delay of a fraction of a
 * second is one second, and never above the cap.
 */
export function backoffSeconds(tries: number, policy: BackoffPolicy, random: Random = Math.random): number {
  return Math.min(Math.floor(policy.cap), Math.ceil(backoffDelay(tries, policy, random)));
}

export interface RetryOptions {
  /** Delays in milliseconds. */
  policy: BackoffPolicy;
  /** Tries in all (the first call included); at least 1. */
  attempts: number;
  /** Whether this error is worth another try; the last error is thrown as it is. */
  retryable(err: unknown): boolean;
  random?: Random;
  sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run fn; on a retryable error wait (backoff, in ms) and run it again, `attempts` times at most. */
export async function retrying<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = Math.max(1, Math.floor(o.attempts));
  for (let tries = 0; ; tries++) {
    try {
      return await fn();
    } catch (err) {
      if (tries + 1 >= attempts || !o.retryable(err)) throw err;
      await (o.sleep ?? sleepMs)(backoffDelay(tries, o.policy, o.random));
    }
  }
}
