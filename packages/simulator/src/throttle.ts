/**
 * EC2 request rate limiting as AWS documents it ("Request throttling for the
 * Amazon EC2 API"): one token bucket per account, region and API action; each
 * request takes a token, an empty bucket answers RequestLimitExceeded; buckets
 * refill every second up to their size. Sizes and refill rates by the page's
 * action categories, times `scale` (1 = AWS's default limits).
 *
 * Real time, not simulated time: the limits are requests per real second of
 * the caller, whose rate does not change with the market's time scale (a
 * bucket refilled 60 times faster under timeScale 60 would never throttle).
 */
export type ActionCategory = 'non-mutating' | 'unfiltered-non-mutating' | 'mutating' | 'resource-intensive';

/** AWS's default bucket size and refill rate (tokens per second) per category. */
export const REQUEST_LIMITS: Record<ActionCategory, { size: number; refill: number }> = {
  'non-mutating': { size: 100, refill: 20 },
  'unfiltered-non-mutating': { size: 50, refill: 10 },
  mutating: { size: 200, refill: 5 },
  'resource-intensive': { size: 50, refill: 5 },
};

/** Actions the simulator serves that the page counts as resource-intensive. */
const RESOURCE_INTENSIVE = new Set(['RunInstances', 'CreateFleet']);

/**
 * The category of one call: its action, and for a Describe* whether it
 * narrows the answer at all (ids, filters, a page size: any parameter but
 * Action, Version and DryRun) or asks for everything unpaginated.
 */
export function categoryOf(action: string, paramNames: Iterable<string>): ActionCategory {
  if (RESOURCE_INTENSIVE.has(action)) return 'resource-intensive';
  if (!/^(Describe|Get|List)/.test(action)) return 'mutating';
  for (const name of paramNames) if (name !== 'Action' && name !== 'Version' && name !== 'DryRun') return 'non-mutating';
  return 'unfiltered-non-mutating';
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RequestLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** Take a token for the call; false when the bucket is empty (throttled). `scale` 0 or less: no limits. */
  take(scale: number, region: string, action: string, category: ActionCategory, now = Date.now()): boolean {
    if (!(scale > 0)) return true;
    const limit = REQUEST_LIMITS[category];
    const size = Math.max(1, limit.size * scale);
    const refill = limit.refill * scale;
    const key = `${region}\u0000${action}`;
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: size, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(size, b.tokens + ((now - b.at) / 1000) * refill);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  clear(): void {
    this.buckets.clear();
  }
}
