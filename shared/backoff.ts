/**
 * The one backoff module of the fleet: named strategies, as BullMQ's
 * backoffs, for AWS call retries inside a handler, messages sent back with a
 * delay, and local restarts. Every hand-written delay rule goes through here.
 *
 * - `fixed(delay)`: the same delay every try;
 * - `exponential({ base, cap })`: try n (0-based) waits base * 2^n, at most cap;
 * - `fullJitter(...)` / `equalJitter(...)`: exponential with jitter 1 / 0.5.
 *
 * `jitter` is the share of the delay drawn at random (BullMQ's `jitter`): the
 * delay d becomes uniform in [d * (1 - jitter), d]. 1 is AWS's "full jitter"
 * (spreads a herd best), 0.5 "equal jitter" (never less than half: for loops
 * that must not hammer, such as teardown waiting for instances), 0 none (tests
 * and documented fixed sequences). `min` applies after jitter, never above
 * the cap. See "Exponential backoff and jitter" (AWS Architecture Blog) and
 * the EC2 API's "Retries and exponential backoff".
 */

interface Common {
  /** Share of the delay drawn at random, 0 to 1 (default 0). */
  jitter?: number;
  /** Smallest delay, in the caller's unit (default 0); applied after jitter, never above the cap. */
  min?: number;
}

export interface FixedBackoff extends Common {
  strategy: 'fixed';
  /** Delay of every try before jitter, in the caller's unit (seconds or milliseconds). */
  delay: number;
}

export interface ExponentialBackoff extends Common {
  strategy: 'exponential';
  /** Delay of try 0 before jitter, in the caller's unit (seconds or milliseconds). */
  base: number;
  /** Largest delay, same unit; a jittered delay never exceeds it. */
  cap: number;
}

export type Backoff = FixedBackoff | ExponentialBackoff;

/** The same delay every try. */
export const fixed = (delay: number, o: Common = {}): FixedBackoff => ({ strategy: 'fixed', delay, ...o });
/** base * 2^n, at most cap; no jitter unless asked. */
export const exponential = (o: Omit<ExponentialBackoff, 'strategy'>): ExponentialBackoff => ({ strategy: 'exponential', ...o });
/** Exponential, uniform in [0, base * 2^n] (AWS's full jitter). */
export const fullJitter = (o: Omit<ExponentialBackoff, 'strategy' | 'jitter'>): ExponentialBackoff => exponential({ ...o, jitter: 1 });
/** Exponential, uniform in [half, all] of base * 2^n (equal jitter). */
export const equalJitter = (o: Omit<ExponentialBackoff, 'strategy' | 'jitter'>): ExponentialBackoff => exponential({ ...o, jitter: 0.5 });

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

/** The largest delay a strategy can give: its cap, or a fixed delay. */
const capOf = (b: Backoff): number => (b.strategy === 'fixed' ? b.delay : b.cap);

/** The delay of try n before jitter: the fixed delay, or base * 2^n at most cap. */
export function backoffCeiling(tries: number, b: Backoff): number {
  if (b.strategy === 'fixed') return b.delay;
  const n = Math.min(Math.max(0, Math.floor(tries)), 52);
  return Math.min(b.cap, b.base * 2 ** n);
}

/** The delay before try n + 1 (after n failed tries), in the strategy's unit. */
export function backoffDelay(tries: number, b: Backoff, random: Random = Math.random): number {
  const ceiling = backoffCeiling(tries, b);
  const jitter = Math.min(Math.max(b.jitter ?? 0, 0), 1);
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = ceiling * (1 - jitter) + ceiling * jitter * r;
  return Math.min(capOf(b), Math.max(b.min ?? 0, jittered));
}

/**
 * The same as whole seconds, for SQS DelaySeconds / VisibilityTimeout
 * (integers, 0 to 900 / 43,200): rounded up, so a delay of a fraction of a
 * second is one second, and never above the cap.
 */
export function backoffSeconds(tries: number, b: Backoff, random: Random = Math.random): number {
  return Math.min(Math.floor(capOf(b)), Math.ceil(backoffDelay(tries, b, random)));
}

export interface RetryOptions {
  /** Delays in milliseconds. */
  policy: Backoff;
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
